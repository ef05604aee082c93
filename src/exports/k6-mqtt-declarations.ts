// The `k6/x/mqtt` declarations shipped beside an exported script, so that it typechecks: the part of the xk6-mqtt
// extension's API the script uses (v0.3.0: its Client, options, events and error), written from its documentation.

export const K6_MQTT_DECLARATIONS_FILE = 'k6-x-mqtt.d.ts';

export const K6_MQTT_DECLARATIONS = `// Types of the k6/x/mqtt module (grafana/xk6-mqtt v0.3.0), as far as edgefleet's
// exported scripts use it, and of k6's console, which @types/k6 leaves to the DOM library.
// Written by edgefleet from the extension's documentation.
declare module 'k6/x/mqtt' {
  /** MQTT quality of service: 0 at most once, 1 at least once (a publish waits for its PUBACK), 2 exactly once. */
  export type QoS = 0 | 1 | 2;

  /** Tags added to the extension's own metric samples. */
  export interface Tagged {
    tags?: Record<string, string>;
  }

  /** Set once per client; the CONNECT packet carries them. */
  export interface ClientOptions extends Tagged {
    client_id?: string;
    username?: string;
    password?: string;
    /** Called at each (re)connect for fresh credentials. */
    credentials_provider?: () => { username: string; password: string };
    will?: { topic: string; payload: string; qos?: QoS; retain?: boolean };
  }

  export interface ConnectOptions extends Tagged {
    /** Seconds; 60 unless given. */
    keepalive?: number;
    /** Milliseconds; 30000 unless given. */
    connect_timeout?: number;
    clean_session?: boolean;
    /** More broker URLs to fail over to. */
    servers?: string[];
  }

  export interface SubscribeOptions extends Tagged {
    qos?: QoS;
  }

  export interface PublishOptions extends Tagged {
    qos?: QoS;
    retain?: boolean;
  }

  /** What the error event carries: the failed method ("connect", "publish", …) and why. */
  export interface MQTTError {
    name: 'MQTTError';
    message: string;
    method: string;
  }

  /**
   * One MQTT 3.1.1 connection (mqtt://, mqtts://, tcp://, ssl://, tls://, ws://, wss:// URLs). TLS settings are k6's
   * own (insecureSkipTLSVerify, tlsAuth, the system's roots). Handlers run on the VU's event loop; the iteration
   * lasts until end() is called.
   */
  export class Client {
    constructor(options?: ClientOptions);
    readonly connected: boolean;
    /** Blocks until CONNACK; throws when refused, unless an error listener takes the error. */
    connect(url: string, options?: ConnectOptions): void;
    end(options?: Tagged): void;
    endAsync(options?: Tagged): Promise<void>;
    reconnect(): void;
    subscribe(topic: string | string[], options?: SubscribeOptions): void;
    /** Resolves on SUBACK. */
    subscribeAsync(topic: string | string[], options?: SubscribeOptions): Promise<void>;
    unsubscribe(topic: string | string[], options?: Tagged): void;
    unsubscribeAsync(topic: string | string[], options?: Tagged): Promise<void>;
    publish(topic: string, payload: string | ArrayBuffer, options?: PublishOptions): void;
    /** Resolves once delivered as the QoS says (PUBACK for QoS 1); throws at once when not connected. */
    publishAsync(topic: string, payload: string | ArrayBuffer, options?: PublishOptions): Promise<void>;
    on(event: 'connect' | 'end' | 'reconnect', listener: () => void): void;
    on(event: 'message', listener: (topic: string, payload: ArrayBuffer) => void): void;
    on(event: 'error', listener: (error: MQTTError) => void): void;
  }
}

// k6's console, declared as the DOM library and @types/node declare it, so that either may be present too.
interface Console {
  log(...data: any[]): void;
  info(...data: any[]): void;
  warn(...data: any[]): void;
  error(...data: any[]): void;
  debug(...data: any[]): void;
}
declare var console: Console;
`;
