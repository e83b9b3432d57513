/**
 * Fires timer triggers. Each enabled timer has one pending Node timer for its next tick; when it
 * comes, the tick is handed to the async queue (retries, dead letters) under an id derived from
 * trigger and tick (`timerExecutionId`), unless that id is already queued or recorded, and then
 * claimed in the store (a conditional update that records the newest tick fired). A crash between
 * the two leaves the tick unclaimed, and the restart hands it over again, which finds the id taken
 * and changes nothing: each tick fires exactly once. On start-up, the newest tick missed while no server ran is fired
 * or skipped, per the trigger's `missedTicks`; older missed ticks are never fired. Keeps up with
 * trigger changes by subscribing to the TriggerService.
 */
import type { AsyncQueue, ExecutionReader, Store } from '../../core/ports.js';
import type { TimerTriggerConfig, TriggerRecord } from '../../core/trigger.js';
import type { AsyncDispatcher } from '../async/async-dispatcher.js';
import type { EngineLogger } from '../executions/execution-recorder.js';
import { timerExecutionId } from '../executions/execution-id.js';
import { newestFiring, parseSchedule, type Schedule } from './schedule.js';
import type { TriggerChange, TriggerService } from './trigger-service.js';

/** setTimeout takes at most 2^31 - 1 ms; longer waits are re-armed. */
const MAX_DELAY_MS = 2_147_483_647;

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
    /** Where ticks go, and where a tick already handed over is found. */
    private readonly queue: AsyncQueue,
    /** Where a tick that already ran is found (its execution record). */
    private readonly executions: Pick<ExecutionReader, 'get'>,
    private readonly dispatcher: Pick<AsyncDispatcher, 'enqueue'>,
    private readonly triggers: TriggerService,
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
    const missed = newestFiring(schedule, new Date(trigger.lastTick ?? trigger.createdAt), new Date());
    if (!missed) return;
    const tick = missed.toISOString();
    if (config.missedTicks === 'skip') {
      if (await this.store.claimTimerTick(trigger.id, tick))
        this.logger.warn({ trigger: trigger.id, tick }, 'skipped a timer tick missed while stopped');
      return;
    }
    this.logger.warn({ trigger: trigger.id, tick }, 'firing a timer tick missed while stopped');
    this.track(this.fireTick(trigger, config, missed));
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
          this.track(this.fireTick(trigger, config, tick));
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

  /** Hands the tick over, then records it as fired. A tick that could not be handed over stays unclaimed. */
  private async fireTick(trigger: TriggerRecord, config: TimerTriggerConfig, tick: Date): Promise<void> {
    try {
      await this.handOver(trigger, config, tick);
      await this.store.claimTimerTick(trigger.id, tick.toISOString());
    } catch (err) {
      this.logger.error({ err, trigger: trigger.id, tick: tick.toISOString() }, 'a timer firing failed');
    }
  }

  /**
   * Queues the trigger's function with its payload under the tick's own id, unless a server
   * (this one before a crash, or another) already did: the id is then queued or recorded.
   */
  private async handOver(trigger: TriggerRecord, config: TimerTriggerConfig, tick: Date): Promise<void> {
    const executionId = timerExecutionId(trigger.id, tick);
    if ((await this.queue.get(executionId)) || (await this.executions.get(executionId))) return;
    await this.dispatcher.enqueue({
      functionName: trigger.functionName,
      event: JSON.stringify(config.payload),
      trigger: 'timer',
      executionId,
      qualifier: config.qualifier ?? undefined,
    });
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
