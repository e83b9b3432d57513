/**
 * The HTTP trigger front door's routing table: enabled HTTP triggers by function name and by host
 * name, held in memory and kept current through TriggerService change notifications, so routing
 * a request never touches the store.
 */
import { hostname } from 'node:os';
import { refusedTriggerHost, type HttpTriggerConfig, type TriggerRecord } from '../core/trigger.js';
import type { TriggerChange, TriggerService } from '../engine/triggers/trigger-service.js';

export interface HttpRoute {
  trigger: TriggerRecord;
  config: HttpTriggerConfig;
}

export class HttpTriggerTable {
  private readonly byId = new Map<string, HttpRoute>();
  private readonly byFunction = new Map<string, HttpRoute>();
  private readonly byHost = new Map<string, HttpRoute>();
  /** Triggers changed since loading began: the change is newer than what the load read. */
  private readonly touched = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly triggers: TriggerService) {
    this.unsubscribe = triggers.subscribe((change) => this.onChange(change));
  }

  /** Reads every HTTP trigger (once, before the server listens). */
  async load(): Promise<void> {
    for (const trigger of await this.triggers.list(undefined, 'http')) {
      if (!this.touched.has(trigger.id)) this.put(trigger);
    }
  }

  close(): void {
    this.unsubscribe();
  }

  /** True when some trigger answers for a host name (only then is the Host header looked at). */
  get hasHosts(): boolean {
    return this.byHost.size > 0;
  }

  forFunction(name: string): HttpRoute | undefined {
    return this.byFunction.get(name);
  }

  forHost(host: string): HttpRoute | undefined {
    return this.byHost.get(host);
  }

  private onChange(change: TriggerChange): void {
    if (change.trigger.config.type !== 'http') return;
    this.touched.add(change.trigger.id);
    this.remove(change.trigger.id);
    if (change.kind !== 'deleted') this.put(change.trigger);
  }

  private put(trigger: TriggerRecord): void {
    if (trigger.config.type !== 'http' || !trigger.enabled) return;
    const route: HttpRoute = { trigger, config: trigger.config };
    this.byId.set(trigger.id, route);
    this.byFunction.set(trigger.functionName, route);
    // A host refused since the trigger was made (a rule added later) keeps its path route only.
    const host = trigger.config.host;
    if (host !== null && refusedTriggerHost(host, hostname()) === undefined) this.byHost.set(host, route);
  }

  private remove(id: string): void {
    const route = this.byId.get(id);
    if (!route) return;
    this.byId.delete(id);
    if (this.byFunction.get(route.trigger.functionName) === route)
      this.byFunction.delete(route.trigger.functionName);
    if (route.config.host !== null && this.byHost.get(route.config.host) === route)
      this.byHost.delete(route.config.host);
  }
}
