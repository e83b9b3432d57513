/**
 * Pre-warmed generic sandboxes: runtime processes that are started and ready but have loaded no
 * function yet, kept per shape (runtime and memory size, since Node's heap limit is fixed at
 * start). Taking one turns a cold start into "link the code, import the module". The pool for a
 * shape grows with how often it was used recently and shrinks back when demand stops; it is
 * refilled off the request path, a few sandboxes at a time. A taken sandbox never returns here.
 */
import type { Failure } from '../../core/outcome.js';
import { LIMITS, RUNTIMES, type Runtime } from '../../core/function.js';
import type { Instance } from './instance.js';

interface PrewarmSettings {
  /** Ready sandboxes kept per runtime at the default memory size when there is no demand. */
  basePerRuntime: number;
  /** Ready sandboxes at most per shape. */
  maxPerShape: number;
  start(runtime: Runtime, memoryMb: number): Promise<Instance | { failure: Failure }>;
  /** Counts memory against the node's budget; false when there is none left. */
  reserveMemory(mb: number): boolean;
  releaseMemory(mb: number): void;
}

/** How long a use counts towards a shape's demand. */
const DEMAND_WINDOW_MS = 30_000;
/** Sandboxes started at once while refilling, so refills never swamp the CPU. */
const MAX_PARALLEL_STARTS = 2;
/** Refill delay when a shape is nearly empty: soon, but after the cold start that took one. */
const URGENT_REFILL_DELAY_MS = 25;
/** Otherwise refills wait until cold starts pause this long, so they never compete with one. */
const CALM_REFILL_DELAY_MS = 150;
/** A shape with fewer ready sandboxes than this is refilled urgently. */
const LOW_WATER = 2;

function shapeOf(runtime: Runtime, memoryMb: number): string {
  return `${runtime}:${memoryMb}`;
}

interface Shape {
  runtime: Runtime;
  memoryMb: number;
  ready: Instance[];
  starting: number;
  /** Times the shape was taken (or needed) recently. */
  uses: number[];
}

export class PrewarmedSandboxes {
  private readonly shapes = new Map<string, Shape>();
  private startsInFlight = 0;
  private closed = false;

  constructor(private readonly settings: PrewarmSettings) {
    if (settings.basePerRuntime > 0) {
      for (const runtime of RUNTIMES) this.shape(runtime, LIMITS.memoryMb.default);
    }
  }

  /** A ready sandbox of this shape, if one is waiting. Starts refilling behind it. */
  take(runtime: Runtime, memoryMb: number): Instance | undefined {
    const shape = this.shape(runtime, memoryMb);
    let instance: Instance | undefined;
    while ((instance = shape.ready.shift())) {
      if (instance.isAlive) break;
      this.settings.releaseMemory(instance.memoryMb);
    }
    this.scheduleRefill(shape.ready.length < LOW_WATER);
    return instance;
  }

  /** Whether a ready sandbox of this shape is waiting. */
  hasReady(runtime: Runtime, memoryMb: number): boolean {
    return (this.shapes.get(shapeOf(runtime, memoryMb))?.ready.length ?? 0) > 0;
  }

  /** Records that a function of this shape was deployed or cold-started, so its pool grows. */
  noteDemand(runtime: Runtime, memoryMb: number): void {
    const shape = this.shape(runtime, memoryMb);
    shape.uses.push(Date.now());
    this.scheduleRefill(shape.ready.length < LOW_WATER);
  }

  private refillTimer: NodeJS.Timeout | undefined;
  private refillUrgent = false;

  /**
   * Refills off the request path: soon when a pool is nearly empty, otherwise once takes pause
   * (each take pushes a calm refill back), so starting sandboxes does not slow the cold starts of
   * a burst that the pool can still serve.
   */
  private scheduleRefill(urgent: boolean): void {
    if (this.refillTimer && (this.refillUrgent || !urgent)) {
      if (!this.refillUrgent) this.refillTimer.refresh();
      return;
    }
    clearTimeout(this.refillTimer);
    this.refillUrgent = urgent;
    this.refillTimer = setTimeout(
      () => {
        this.refillTimer = undefined;
        this.refill();
      },
      urgent ? URGENT_REFILL_DELAY_MS : CALM_REFILL_DELAY_MS,
    );
  }

  /** Stops one ready sandbox (the largest pool's oldest) to free memory. False when none is left. */
  evictOne(): boolean {
    let largest: Shape | undefined;
    for (const shape of this.shapes.values()) {
      if (shape.ready.length > 0 && (!largest || shape.ready.length > largest.ready.length)) largest = shape;
    }
    const victim = largest?.ready.shift();
    if (!victim) return false;
    this.settings.releaseMemory(victim.memoryMb);
    void victim.kill();
    return true;
  }

  sizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, shape] of this.shapes) out[key] = shape.ready.length;
    return out;
  }

  /** Starts sandboxes where a shape is below its target and trims shapes above it. */
  refill(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const shape of this.shapes.values()) {
      shape.uses = shape.uses.filter((t) => now - t < DEMAND_WINDOW_MS);
      const target = this.target(shape);
      while (shape.ready.length > target) {
        const extra = shape.ready.pop()!;
        this.settings.releaseMemory(extra.memoryMb);
        void extra.kill();
      }
      while (shape.ready.length + shape.starting < target && this.startsInFlight < MAX_PARALLEL_STARTS) {
        if (!this.settings.reserveMemory(shape.memoryMb)) return;
        void this.startOne(shape);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refillTimer);
    const all: Promise<void>[] = [];
    for (const shape of this.shapes.values()) {
      for (const instance of shape.ready.splice(0)) {
        this.settings.releaseMemory(instance.memoryMb);
        all.push(instance.kill());
      }
    }
    await Promise.all(all);
  }

  /** Base size for default shapes, plus recent demand (uses in the window), capped. */
  private target(shape: Shape): number {
    const base = shape.memoryMb === LIMITS.memoryMb.default ? this.settings.basePerRuntime : 0;
    if (base === 0 && this.settings.basePerRuntime === 0) return 0;
    return Math.min(this.settings.maxPerShape, base + Math.ceil(shape.uses.length / 2));
  }

  private shape(runtime: Runtime, memoryMb: number): Shape {
    const key = shapeOf(runtime, memoryMb);
    let shape = this.shapes.get(key);
    if (!shape) {
      shape = { runtime, memoryMb, ready: [], starting: 0, uses: [] };
      this.shapes.set(key, shape);
    }
    return shape;
  }

  private async startOne(shape: Shape): Promise<void> {
    shape.starting++;
    this.startsInFlight++;
    const started = await this.settings.start(shape.runtime, shape.memoryMb);
    shape.starting--;
    this.startsInFlight--;
    if ('failure' in started || this.closed) {
      this.settings.releaseMemory(shape.memoryMb);
      if (!('failure' in started)) void started.kill();
      return; // the next refill tries again; a broken runtime must not spin
    }
    shape.ready.push(started);
    void started.exited.then(() => {
      const i = shape.ready.indexOf(started);
      if (i >= 0) {
        shape.ready.splice(i, 1);
        this.settings.releaseMemory(started.memoryMb);
      }
    });
    // Go on at once only while some pool is nearly empty or takes have paused; during a burst that
    // the pools still serve, the next start waits for the calm (a start costs an interpreter's
    // start-up in CPU, which the burst's cold starts would otherwise share).
    if (this.refillTimer === undefined || this.refillUrgent || this.anyNearlyEmpty()) this.refill();
  }

  private anyNearlyEmpty(): boolean {
    for (const shape of this.shapes.values()) {
      if (shape.ready.length < LOW_WATER && this.target(shape) > shape.ready.length) return true;
    }
    return false;
  }
}
