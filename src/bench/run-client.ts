// Parent side: runs one ClientJob in a fresh `node --expose-gc dist/bench/client.js` and returns its result.
// The job (with the group key) goes over stdin, never argv; the child is killed on timeout or failure.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RESULT_MARKER, type ClientJob, type ClientResult } from './job.js';
import { pinned } from './pinning.js';

/** A result for a client process that gave none. */
const failure = (job: ClientJob, error: string): ClientResult => ({
  ok: false,
  variant: job.variant,
  kind: job.kind,
  gcExposed: false,
  error,
});

/** Reads the client's stdout: the result line kept, the rest logged; its stderr logged, its tail kept. */
function readOutput(child: ChildProcessWithoutNullStreams, log: (line: string) => void) {
  let stdout = '';
  let stderrTail = '';
  let result: ClientResult | undefined;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    let nl: number;
    while ((nl = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      if (line.startsWith(RESULT_MARKER)) result = JSON.parse(line.slice(RESULT_MARKER.length)) as ClientResult;
      else if (line.trim()) log(line);
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString();
    stderrTail = (stderrTail + text).slice(-3000);
    for (const line of text.split('\n')) if (line.trim()) log(line);
  });
  return { result: () => result, stderrTail: () => stderrTail };
}

export async function runClient(
  job: ClientJob,
  timeoutMs: number,
  log: (line: string) => void,
  cpuList?: string,
): Promise<ClientResult> {
  const script = fileURLToPath(new URL('./client.js', import.meta.url));
  // EDGEFLEET_BENCH_CLIENT_NODE_ARGS: extra node flags for client processes, to look into one
  // (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc").
  const extra = (process.env.EDGEFLEET_BENCH_CLIENT_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const [command, args] = pinned(cpuList, process.execPath, ['--expose-gc', ...extra, script]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const output = readOutput(child, log);
  child.stdin.end(JSON.stringify(job));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    const outcome = await Promise.race([exited, timedOut]);
    if (outcome === 'timeout') {
      child.kill('SIGKILL');
      await exited;
      return output.result() ?? failure(job, `the client process did not finish within ${timeoutMs / 1000} s`);
    }
    return (
      output.result() ??
      failure(job, `the client process exited (${outcome}) without a result: ${output.stderrTail().trim().slice(-600)}`)
    );
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    process.off('exit', killOnExit);
  }
}
