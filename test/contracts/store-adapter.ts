/**
 * How the contract suites get stores of one database adapter (SQLite, PostgreSQL): an
 * adapter implements this once, and test/store-contract.test.ts runs every suite against it.
 */
import type { AsyncQueue, LayerStore, Store } from '../../src/core/ports.js';

/** A Store with the ports kept beside it in the same database. */
type DatabaseStore = Store & { asyncQueue(): AsyncQueue; layers(): LayerStore };

export interface StoreAdapter {
  /** Named in the suites' titles. */
  name: string;
  /** A store on a fresh, empty database, not yet migrated. */
  create(): Promise<DatabaseStore>;
  /**
   * A new store on the data of `closed` (a store `create` gave, closed by the caller), for the
   * durability test; without it that test is left out.
   */
  reopen?: (closed: Store) => Promise<Store>;
}
