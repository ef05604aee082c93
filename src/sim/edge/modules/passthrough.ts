// Forwards what arrives on an input to an output, body and application properties unchanged.
import { applicationProperties, type ModuleApi, type ModuleBehaviour } from './types.js';

export interface PassthroughOptions {
  /** Undefined or '*': every input. */
  input?: string;
  output?: string;
}

export class PassthroughModule implements ModuleBehaviour {
  private api: ModuleApi | undefined;
  private readonly output: string;

  constructor(private readonly options: PassthroughOptions = {}) {
    this.output = options.output ?? 'output1';
  }

  start(api: ModuleApi): void {
    this.api = api;
  }

  onInput(input: string, body: Buffer, properties: Readonly<Record<string, string>>): void {
    const api = this.api;
    const wanted = this.options.input;
    if (api === undefined || (wanted !== undefined && wanted !== '*' && wanted !== input)) return;
    api.sendOutput(this.output, body, applicationProperties(properties));
  }

  stop(): void {
    this.api = undefined;
  }
}
