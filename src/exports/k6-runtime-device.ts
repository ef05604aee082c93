// The device half of an exported k6 script's fixed text: DPS registration, the hub connection and what a plain
// device does there (twin, reported properties, desired acknowledgements, commands, telemetry until the end).
// xk6-mqtt reports a failure to an `error` listener instead of rejecting the call's promise when one is
// registered, so the script registers none: a refused CONNECT throws, a failed publish or subscribe rejects.

export const K6_RUNTIME_DPS = String.raw`
// ---- DPS --------------------------------------------------------------------------------------------------------

type Failure = { cls: string; message: string };

/** One registration with DPS: register, then poll as retry-after says, until assigned, refused or out of time. */
class Registration {
  private readonly client: Client;
  private readonly device: DeviceRef;
  private readonly started = Date.now();
  private readonly resolve: (hub: string | undefined) => void;
  private rid = 0;
  private polls = 0;
  private operationId: string | undefined;
  private timer: number | undefined;
  private deadline: number | undefined;
  private settled = false;

  constructor(device: DeviceRef, key: string, resolve: (hub: string | undefined) => void) {
    const scope = setting('EDGEFLEET_ID_SCOPE');
    const expiry = Math.floor(this.started / 1000) + TOKEN_TTL_SECONDS;
    this.device = device;
    this.resolve = resolve;
    this.client = new Client({
      client_id: device.id,
      username: scope + '/registrations/' + device.id + '/api-version=' + DPS_API_VERSION,
      password: sasToken(scope + '/registrations/' + device.id, key, expiry, 'registration'),
    });
  }

  start(endAt: number): void {
    const self = this;
    const fail = function (e: unknown): void {
      self.finish(undefined, classify(e));
    };
    this.deadline = setTimeout(
      function (): void {
        self.finish(undefined, { cls: 'timeout', message: 'not assigned before the end of the run' });
      },
      Math.max(0, endAt - this.started),
    );
    this.client.on('message', function (topic: string, payload: ArrayBuffer): void {
      self.answer(topic, utf8(payload));
    });
    this.client.on('connect', function (): void {
      self.client.subscribeAsync('$dps/registrations/res/#', { qos: 1 }).then(function (): void {
        self.ask();
      }, fail);
    });
    const host =
      setting('EDGEFLEET_DPS_HOST', DPS_HOST_DEFAULT) + ':' + setting('EDGEFLEET_DPS_PORT', DPS_PORT_DEFAULT);
    try {
      this.client.connect('mqtts://' + host, { keepalive: 60, connect_timeout: 30000 });
    } catch (e) {
      fail(e);
    }
  }

  /** The register request, or a poll once DPS has given an operation id. */
  private ask(): void {
    this.rid += 1;
    const self = this;
    const modelId = this.device.group.modelId;
    const body = {
      registrationId: this.device.id,
      payload: modelId === null ? undefined : { modelId: modelId },
    };
    const poll = this.operationId !== undefined;
    const topic = poll
      ? '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=' +
        this.rid +
        '&operationId=' +
        encodeURIComponent(this.operationId || '')
      : '$dps/registrations/PUT/iotdps-register/?$rid=' + this.rid;
    try {
      this.client.publishAsync(topic, poll ? '' : JSON.stringify(body), { qos: 1 }).catch(function (
        e: unknown,
      ): void {
        self.finish(undefined, classify(e));
      });
    } catch (e) {
      this.finish(undefined, classify(e));
    }
  }

  private answer(topic: string, text: string): void {
    const m = /^\$dps\/registrations\/res\/(\d{3})\//.exec(topic);
    if (m === null) return;
    const status = Number(m[1]);
    const answer = parsed(text);
    const state = isObject(answer) ? answer : {};
    if (status === 200 && state.status === 'assigned') {
      const registration = isObject(state.registrationState) ? state.registrationState : {};
      this.finish(String(registration.assignedHub));
      return;
    }
    if (status !== 202 && status !== 429 && !(status === 200 && state.status === 'assigning')) {
      this.finish(undefined, {
        cls: statusClass(status),
        message: 'answered ' + status + ' ' + text.slice(0, 200),
      });
      return;
    }
    if (typeof state.operationId === 'string') this.operationId = state.operationId;
    this.polls += 1;
    const retryAfter = Number(queryOf(topic)['retry-after']);
    // As the engine paces it: retry-after when given (2 s without; 10 s when throttled), at most 5 polls in 10 s.
    const wait = Number.isFinite(retryAfter) ? retryAfter * 1000 : status === 429 ? 10000 : 2000;
    const self = this;
    this.timer = setTimeout(
      function (): void {
        self.ask();
      },
      this.polls > 5 ? Math.max(wait, 2000) : wait,
    );
  }

  private finish(hub: string | undefined, failure?: Failure): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    if (hub !== undefined) {
      trends.provision.add(Date.now() - this.started);
      succeeded('provision');
    } else if (failure !== undefined) {
      failed('provision', failure.cls, this.device.id + ': DPS: ' + failure.message);
    }
    this.client.end();
    this.resolve(hub);
  }
}

/** Registers the device through DPS; resolves with its assigned hub, or undefined when it was not assigned. */
function provision(device: DeviceRef, key: string, endAt: number): Promise<string | undefined> {
  return new Promise(function (resolve: (hub: string | undefined) => void): void {
    new Registration(device, key, resolve).start(endAt);
  });
}
`;

export const K6_RUNTIME_HUB = String.raw`
// ---- the device on its hub --------------------------------------------------------------------------------------

class HubSession {
  private readonly random: Random;
  private readonly telemetry: { component: string | null; fields: [string, Draw][] }[];
  private readonly requests: Record<
    string,
    { operation: 'twinGet' | 'reportedPatch'; started: number; ack: boolean }
  > = {};
  private rid = 0;
  private inFlight = 0;
  private connects = 0;
  private timer: number | undefined;
  private stopping = false;
  connectStarted = 0;

  private readonly client: Client;
  private readonly device: DeviceRef;
  private readonly endAt: number;
  private readonly done: () => void;

  constructor(client: Client, device: DeviceRef, endAt: number, done: () => void) {
    this.client = client;
    this.device = device;
    this.endAt = endAt;
    this.done = done;
    this.random = randomFor(device.id);
    const random = this.random;
    this.telemetry = device.group.telemetry.map(function (m: {
      component: string | null;
      fields: [string, Plan][];
    }) {
      return {
        component: m.component,
        fields: m.fields.map(function (f: [string, Plan]): [string, Draw] {
          return [f[0], draw(f[1], random)];
        }),
      };
    });
  }

  /** CONNACK: subscribe (again after a reconnect: the session is clean), read the twin, start sending. */
  connected(): void {
    this.connects += 1;
    const first = this.connects === 1;
    if (first) {
      trends.connect.add(Date.now() - this.connectStarted);
      succeeded('connect');
    }
    const id = this.device.id;
    const filters = [
      'devices/' + id + '/messages/devicebound/#',
      '$iothub/twin/res/#',
      '$iothub/twin/PATCH/properties/desired/#',
      '$iothub/methods/POST/#',
    ];
    const self = this;
    this.client.subscribeAsync(filters, { qos: 1 }).then(
      function (): void {
        self.request('twinGet', '$iothub/twin/GET/?$rid=', '', false);
        if (first) self.tick(Date.now(), 0);
      },
      function (e: unknown): void {
        const c = classify(e);
        failed('connect', c.cls, id + ': subscribe: ' + c.message);
      },
    );
    if (first) {
      this.timer = setTimeout(
        function (): void {
          self.stop();
        },
        Math.max(0, this.endAt - Date.now()),
      );
    }
  }

  message(topic: string, text: string): void {
    if (topic.indexOf('$iothub/twin/res/') === 0)
      this.twinResponse(Number(topic.split('/')[3]), queryOf(topic), text);
    else if (topic.indexOf('$iothub/twin/PATCH/properties/desired/') === 0) {
      const desired = parsed(text);
      if (isObject(desired)) this.acknowledge(desired, Number(queryOf(topic)['$version']));
    } else if (topic.indexOf('$iothub/methods/POST/') === 0)
      this.answer(topic.split('/')[3] || '', queryOf(topic)['$rid'] || '');
    else if (topic.indexOf('devices/') === 0) c2dReceived.add(1);
  }

  /** Telemetry at the group's interval, each message timed from when it should have been sent. */
  private tick(firstAt: number, n: number): void {
    const intended = firstAt + n * this.device.group.intervalMs;
    if (this.stopping || intended >= this.endAt) return;
    const seconds = intended / 1000;
    for (const m of this.telemetry) {
      let body: Record<string, unknown> | undefined;
      for (const f of m.fields) {
        const v = f[1](seconds);
        if (v === undefined) continue;
        if (body === undefined) body = {};
        body[f[0]] = v;
      }
      if (body !== undefined) this.send(body, m.component, intended);
    }
    const self = this;
    const next = firstAt + (n + 1) * this.device.group.intervalMs;
    if (next < this.endAt) {
      this.timer = setTimeout(
        function (): void {
          self.tick(firstAt, n + 1);
        },
        Math.max(0, next - Date.now()),
      );
    }
  }

  private send(body: Record<string, unknown>, component: string | null, intended: number): void {
    // No iothub-creation-time-utc: xk6-mqtt tags every sample with its topic, and a time in each topic would make
    // every message a k6 time series of its own. The hub stamps its enqueued time instead.
    const bag = TELEMETRY_BAG + (component === null ? '' : COMPONENT_KEY + encodeURIComponent(component));
    const topic = 'devices/' + this.device.id + '/messages/events/' + bag;
    const self = this;
    ledger.generated.add(1);
    this.inFlight += 1;
    const settle = function (err?: unknown): void {
      self.inFlight -= 1;
      if (err === undefined) {
        ledger.acknowledged.add(1);
        trends.telemetry.add(Date.now() - intended);
        succeeded('telemetry');
        return;
      }
      ledger.failed.add(1);
      const c = classify(err);
      failed('telemetry', c.cls, self.device.id + ': ' + c.message);
    };
    try {
      this.client
        .publishAsync(topic, JSON.stringify(body), { qos: this.device.group.qos })
        .then(function (): void {
          settle();
        }, settle);
    } catch (e) {
      settle(e === undefined ? new Error('publish failed') : e);
    }
  }

  private request(operation: 'twinGet' | 'reportedPatch', topic: string, body: string, ack: boolean): void {
    this.rid += 1;
    const rid = String(this.rid);
    this.requests[rid] = { operation: operation, started: Date.now(), ack: ack };
    const self = this;
    const fail = function (e: unknown): void {
      delete self.requests[rid];
      const c = classify(e);
      failed(operation, c.cls, self.device.id + ': ' + c.message);
    };
    try {
      this.client.publishAsync(topic + rid, body, { qos: 0 }).catch(fail);
    } catch (e) {
      fail(e);
    }
  }

  private twinResponse(status: number, query: Record<string, string>, text: string): void {
    const rid = query['$rid'] || '';
    const pending = this.requests[rid];
    if (pending === undefined) return;
    delete this.requests[rid];
    if (status >= 300) {
      failed(
        pending.operation,
        statusClass(status),
        this.device.id + ': ' + pending.operation + ' answered ' + status,
      );
      return;
    }
    trends[pending.operation].add(Date.now() - pending.started);
    succeeded(pending.operation);
    if (pending.ack) desiredAcknowledged.add(1);
    if (pending.operation !== 'twinGet') return;
    const twin = parsed(text);
    const desired = isObject(twin) && isObject(twin.desired) ? twin.desired : {};
    this.acknowledge(desired, Number(desired['$version']));
    const reported = this.reported(Date.now() / 1000);
    if (reported !== undefined)
      this.request(
        'reportedPatch',
        '$iothub/twin/PATCH/properties/reported/?$rid=',
        JSON.stringify(reported),
        false,
      );
  }

  /** The reported properties sent after connecting: "component.name" goes into the component's object. */
  private reported(seconds: number): Record<string, unknown> | undefined {
    const patch: Record<string, unknown> = {};
    let any = false;
    for (const r of this.device.group.reported) {
      const v = draw(r[1], this.random)(seconds);
      if (v === undefined) continue;
      any = true;
      const dot = r[0].indexOf('.');
      if (dot < 0) {
        patch[r[0]] = v;
        continue;
      }
      const component = r[0].slice(0, dot);
      const inner = isObject(patch[component]) ? (patch[component] as Record<string, unknown>) : { __t: 'c' };
      inner[r[0].slice(dot + 1)] = v;
      patch[component] = inner;
    }
    return any ? patch : undefined;
  }

  /** Acknowledges desired properties the IoT Central way: { value, ac, av, ad }, inside their component. */
  private acknowledge(desired: Record<string, unknown>, version: number): void {
    const group = this.device.group;
    const writable = function (component: string, name: string): boolean {
      return group.writable === null || group.writable.indexOf(component + '|' + name) >= 0;
    };
    const ack = function (value: unknown): unknown {
      return { value: value, ac: group.ack.code, av: version, ad: group.ack.description };
    };
    const patch: Record<string, unknown> = {};
    let any = false;
    for (const key of Object.keys(desired)) {
      const value = desired[key];
      if (key.charAt(0) === '$' || value === null) continue;
      if (isObject(value) && value.__t === 'c') {
        const inner: Record<string, unknown> = { __t: 'c' };
        let some = false;
        for (const name of Object.keys(value)) {
          const v = value[name];
          if (name === '__t' || name.charAt(0) === '$' || v === null || !writable(key, name)) continue;
          inner[name] = ack(isObject(v) && 'value' in v ? v.value : v);
          some = true;
        }
        if (some) patch[key] = inner;
        any = any || some;
      } else if (writable('', key)) {
        patch[key] = ack(value);
        any = true;
      }
    }
    if (!any) return;
    const self = this;
    setTimeout(function (): void {
      if (!self.stopping)
        self.request(
          'reportedPatch',
          '$iothub/twin/PATCH/properties/reported/?$rid=',
          JSON.stringify(patch),
          true,
        );
    }, group.ack.delayMs);
  }

  private answer(name: string, rid: string): void {
    const command = this.device.group.commands[name] || this.device.group.commands['default'];
    const status = command === undefined ? 501 : command.status;
    const response =
      command === undefined
        ? { error: 'command "' + name + '" is not implemented' }
        : command.response === null
          ? null
          : draw(command.response, this.random)(Date.now() / 1000);
    const self = this;
    setTimeout(
      function (): void {
        if (self.stopping) return;
        try {
          self.client
            .publishAsync('$iothub/methods/res/' + status + '/?$rid=' + rid, JSON.stringify(response), {
              qos: 0,
            })
            .then(
              function (): void {
                commandsAnswered.add(1, { status: String(status) });
              },
              function (): void {},
            );
        } catch (_e) {
          // Not connected: the service side sees the command time out, as with a real device.
        }
      },
      command === undefined ? 0 : command.delayMs,
    );
  }

  /** The run is over: no more telemetry; in-flight messages get the profile's drain, then the connection closes. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const self = this;
    const until = Date.now() + FLEET.drainMs;
    const wait = function (): void {
      if (self.inFlight > 0 && Date.now() < until) {
        setTimeout(wait, 50);
        return;
      }
      self.client.end();
      self.done();
    };
    wait();
  }
}

/** Connects to the assigned hub as the device and runs it until the end of the run. */
function runOnHub(device: DeviceRef, key: string, hub: string, endAt: number): Promise<void> {
  const host = hub.indexOf(':') >= 0 ? hub : hub + ':8883';
  const expiry = Math.floor(endAt / 1000) + FLEET.drainMs / 1000 + TOKEN_TTL_SECONDS;
  const modelId = device.group.modelId;
  const client = new Client({
    client_id: device.id,
    username:
      hub +
      '/' +
      device.id +
      '/?api-version=' +
      HUB_API_VERSION +
      (modelId === null ? '' : '&model-id=' + encodeURIComponent(modelId)),
    password: sasToken(hub + '/devices/' + device.id, key, expiry),
  });
  return new Promise(function (resolve: () => void): void {
    const session = new HubSession(client, device, endAt, resolve);
    client.on('connect', function (): void {
      session.connected();
    });
    client.on('message', function (topic: string, payload: ArrayBuffer): void {
      session.message(topic, utf8(payload));
    });
    client.on('end', function (): void {
      resolve();
    });
    session.connectStarted = Date.now();
    try {
      client.connect('mqtts://' + host, { keepalive: 60, connect_timeout: 30000 });
    } catch (e) {
      const c = classify(e);
      failed('connect', c.cls, device.id + ': ' + c.message);
      client.end();
      resolve();
    }
  });
}

/** One iteration is one device: register it, connect it, run it until the scenario's duration ends. */
export default async function (): Promise<void> {
  const device = deviceAt(exec.scenario.iterationInTest);
  // k6 paces arrivals on its own clock and may start one more iteration than the fleet has.
  if (device === undefined) return;
  const endAt = exec.scenario.startTime + FLEET.durationMs;
  const key = sign(setting('EDGEFLEET_DEVICES_KEY'), device.id);
  const hub = await provision(device, key, endAt);
  if (hub === undefined || Date.now() >= endAt) return;
  await runOnHub(device, key, hub, endAt);
}
`;
