/**
 * Fires timer triggers. Each enabled timer has one pending Node timer for its next tick; when it
 * fires, the tick is claimed in the store (a conditional update that succeeds for exactly one
 * caller per tick, across restarts and servers) and only the claimer delivers the payload. On
 * start-up, the newest tick missed while no server ran is fired once or skipped, per the trigger's
 * `missedTicks`; older missed ticks are never fired. Keeps up with trigger changes by subscribing
 * to the TriggerService.
 */
import type { Store } from '../core/ports.js';
import type { TimerTriggerConfig, TriggerRecord } from '../core/trigger.js';
import type { EngineLogger } from './execution-recorder.js';
import { parseSchedule, type Schedule } from './schedule.js';
import type { TriggerChange, TriggerService } from './trigger-service.js';

/** Delivers one firing: runs the trigger's function with its payload. */
export type FireTimer = (trigger: TriggerRecord, config: TimerTriggerConfig, tick: Date) => Promise<void>;

/** setTimeout takes at most 2^31 - 1 ms; longer waits are re-armed. */
const MAX_DELAY_MS = 2_147_483_647;
/** Missed ticks looked at when catching up after a long stop (the newest one is what counts). */
const MAX_CATCH_UP_STEPS = 1_000_000;

interface Armed {
  timer: NodeJS.Timeout;
  tick: Date;
}

export class TimerScheduler {
  private readonly armed = new Map<string, Armed>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  /** Firings in progress, awaited on stop. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly triggers: TriggerService,
    private readonly fire: FireTimer,
    private readonly logger: EngineLogger,
  ) {}

  /** Catches up on missed ticks and arms every enabled timer. */
  async start(): Promise<void> {
    this.unsubscribe = this.triggers.subscribe((change) => this.onChange(change));
    const timers = await this.store.listTriggers({ type: 'timer' });
    for (const trigger of timers) {
      if (!trigger.enabled || trigger.config.type !== 'timer') continue;
      await this.catchUp(trigger, trigger.config);
      this.arm(trigger);
    }
  }

  /** Disarms every timer and waits for firings in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    for (const { timer } of this.armed.values()) clearTimeout(timer);
    this.armed.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Armed timers and their next ticks (for tests and stats). */
  pending(): { id: string; tick: string }[] {
    return [...this.armed].map(([id, a]) => ({ id, tick: a.tick.toISOString() }));
  }

  private onChange(change: TriggerChange): void {
    if (change.trigger.config.type !== 'timer') return;
    this.disarm(change.trigger.id);
    if (change.kind !== 'deleted' && change.trigger.enabled) this.arm(change.trigger);
  }

  /** Fires (or skips) the newest tick between the last claimed one and now. */
  private async catchUp(trigger: TriggerRecord, config: TimerTriggerConfig): Promise<void> {
    const schedule = this.scheduleOf(trigger, config);
    if (!schedule) return;
    const now = Date.now();
    let cursor = new Date(trigger.lastTick ?? trigger.createdAt);
    let missed: Date | undefined;
    for (let i = 0; i < MAX_CATCH_UP_STEPS; i++) {
      const next = schedule.next(cursor);
      if (!next || next.getTime() > now) break;
      missed = next;
      cursor = next;
    }
    if (!missed) return;
    if (!(await this.store.claimTimerTick(trigger.id, missed.toISOString()))) return;
    if (config.missedTicks === 'skip') {
      this.logger.warn(
        { trigger: trigger.id, tick: missed.toISOString() },
        'skipped a timer tick missed while stopped',
      );
      return;
    }
    this.logger.warn(
      { trigger: trigger.id, tick: missed.toISOString() },
      'firing a timer tick missed while stopped',
    );
    this.track(this.deliver(trigger, config, missed));
  }

  private arm(trigger: TriggerRecord, after = new Date()): void {
    if (this.stopped || trigger.config.type !== 'timer') return;
    const config = trigger.config;
    const schedule = this.scheduleOf(trigger, config);
    const tick = schedule?.next(after);
    if (!tick) return;
    const wait = (): NodeJS.Timeout => {
      const delay = tick.getTime() - Date.now();
      return setTimeout(
        () => {
          // Timers may wake a little early, and long waits are split: wait for the tick itself.
          if (Date.now() < tick.getTime()) {
            this.armed.set(trigger.id, { timer: wait(), tick });
            return;
          }
          this.armed.delete(trigger.id);
          this.arm(trigger, tick);
          this.track(this.claimAndDeliver(trigger, config, tick));
        },
        Math.min(Math.max(delay, 0), MAX_DELAY_MS),
      );
    };
    this.armed.set(trigger.id, { timer: wait(), tick });
  }

  private disarm(id: string): void {
    const armed = this.armed.get(id);
    if (armed) clearTimeout(armed.timer);
    this.armed.delete(id);
  }

  private async claimAndDeliver(
    trigger: TriggerRecord,
    config: TimerTriggerConfig,
    tick: Date,
  ): Promise<void> {
    try {
      if (!(await this.store.claimTimerTick(trigger.id, tick.toISOString()))) return;
    } catch (err) {
      this.logger.error({ err, trigger: trigger.id }, 'claiming a timer tick failed; the tick is not fired');
      return;
    }
    await this.deliver(trigger, config, tick);
  }

  private async deliver(trigger: TriggerRecord, config: TimerTriggerConfig, tick: Date): Promise<void> {
    try {
      await this.fire(trigger, config, tick);
    } catch (err) {
      this.logger.error({ err, trigger: trigger.id, tick: tick.toISOString() }, 'a timer firing failed');
    }
  }

  private scheduleOf(trigger: TriggerRecord, config: TimerTriggerConfig): Schedule | undefined {
    try {
      return parseSchedule(config.schedule, config.timezone);
    } catch (err) {
      // Stored schedules were valid when saved; a newer Nimbus may read one differently.
      this.logger.error({ err, trigger: trigger.id }, 'a stored timer schedule no longer parses; not armed');
      return undefined;
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
