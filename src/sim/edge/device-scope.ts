// edgeHub's device scope for devices outside the plan: which devices are this gateway's children in the cloud.
// edgeHub keeps the scope cached and refreshes it when a device it does not know connects; so does this, at most
// once per `minRefreshMs`, so that a stream of strangers cannot turn into a stream of service API calls.

/** The cloud's children of a gateway (device ids), as its service API lists the gateway's relationships. */
export type ChildrenLookup = () => Promise<readonly string[]>;

export class DeviceScope {
  private children = new Set<string>();
  private refreshedAt = -Infinity;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly lookup: ChildrenLookup,
    private readonly now: () => number,
    private readonly minRefreshMs = 1_000,
  ) {}

  /** True when `deviceId` is a child; a device not in the cached scope refreshes it first (errors propagate). */
  async includes(deviceId: string): Promise<boolean> {
    const id = deviceId.toLowerCase();
    if (this.children.has(id)) return true;
    if (this.refreshing === undefined && this.now() - this.refreshedAt >= this.minRefreshMs) {
      this.refreshing = this.refresh().finally(() => (this.refreshing = undefined));
    }
    if (this.refreshing !== undefined) await this.refreshing;
    return this.children.has(id);
  }

  private async refresh(): Promise<void> {
    this.refreshedAt = this.now();
    const ids = await this.lookup();
    this.children = new Set(ids.map((id) => id.toLowerCase()));
  }
}
