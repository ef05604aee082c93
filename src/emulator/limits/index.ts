// IoT Hub, DPS and IoT Central limits in the emulator (docs/protocol.md §7).
export { HubLimits, ThrottledError, type OperationCounts } from './hub-limits.js';
export {
  DEFAULT_SHAPING_BURST_MS,
  DEFAULT_SHAPING_QUEUE_MS,
  DPS_REGISTRATIONS_PER_MINUTE,
  HUB_TIERS,
  LIMITED_OPERATIONS,
  LimitsConfigError,
  METHOD_METER_BYTES,
  planLimits,
  type HubTier,
  type LimitedOperation,
  type LimitsConfig,
  type LimitsPlan,
} from './profiles.js';
