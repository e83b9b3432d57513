/**
 * The LayerStore port over kysely: layer versions and their per-layer version counter, in the
 * metadata database shared by SQLite and PostgreSQL. It must never use raw SQL or
 * dialect-only features, and must never give a version number twice.
 */
import type { Kysely } from 'kysely';
import type { LayerVersionRecord } from '../core/layer.js';
import type { LayerStore } from '../core/ports.js';
import type { Database, LayerVersionsTable } from './schema.js';

function toRow(v: LayerVersionRecord): LayerVersionsTable {
  return {
    layer_name: v.layerName,
    version: v.version,
    description: v.description,
    compatible_runtimes_json: JSON.stringify(v.compatibleRuntimes),
    license_info: v.licenseInfo,
    code_sha256: v.codeSha256,
    code_size: v.codeSize,
    unpacked_bytes: v.unpackedBytes,
    created_at: v.createdAt,
  };
}

function fromRow(row: LayerVersionsTable): LayerVersionRecord {
  return {
    layerName: row.layer_name,
    version: Number(row.version),
    description: row.description,
    compatibleRuntimes: JSON.parse(row.compatible_runtimes_json) as string[],
    licenseInfo: row.license_info,
    codeSha256: row.code_sha256,
    codeSize: Number(row.code_size),
    unpackedBytes: Number(row.unpacked_bytes),
    createdAt: row.created_at,
  };
}

export class KyselyLayerStore implements LayerStore {
  constructor(private readonly db: Kysely<Database>) {}

  async publish(version: LayerVersionRecord): Promise<LayerVersionRecord> {
    const name = version.layerName;
    return this.db.transaction().execute(async (trx) => {
      // Writes first (see KyselyStore.publishVersion): the counter row is created or bumped, then read.
      await trx
        .insertInto('layer_version_counters')
        .values({ layer_name: name, last_version: 0 })
        .onConflict((oc) => oc.column('layer_name').doNothing())
        .execute();
      await trx
        .updateTable('layer_version_counters')
        .set((eb) => ({ last_version: eb('last_version', '+', 1) }))
        .where('layer_name', '=', name)
        .execute();
      const counter = await trx
        .selectFrom('layer_version_counters')
        .select('last_version')
        .where('layer_name', '=', name)
        .executeTakeFirstOrThrow();
      const stored: LayerVersionRecord = { ...version, version: Number(counter.last_version) };
      await trx.insertInto('layer_versions').values(toRow(stored)).execute();
      return stored;
    });
  }

  async get(layerName: string, version: number): Promise<LayerVersionRecord | undefined> {
    if (!Number.isSafeInteger(version)) return undefined;
    const row = await this.db
      .selectFrom('layer_versions')
      .selectAll()
      .where('layer_name', '=', layerName)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async listVersions(layerName: string): Promise<LayerVersionRecord[]> {
    const rows = await this.db
      .selectFrom('layer_versions')
      .selectAll()
      .where('layer_name', '=', layerName)
      .orderBy('version', 'desc')
      .execute();
    return rows.map(fromRow);
  }

  async listLatest(): Promise<LayerVersionRecord[]> {
    const newest = this.db
      .selectFrom('layer_versions')
      .select(['layer_name', (eb) => eb.fn.max('version').as('version')])
      .groupBy('layer_name')
      .as('newest');
    const rows = await this.db
      .selectFrom('layer_versions')
      .innerJoin(newest, (join) =>
        join
          .onRef('newest.layer_name', '=', 'layer_versions.layer_name')
          .onRef('newest.version', '=', 'layer_versions.version'),
      )
      .selectAll('layer_versions')
      .orderBy('layer_versions.layer_name', 'asc')
      .execute();
    return rows.map(fromRow);
  }

  async delete(layerName: string, version: number): Promise<boolean> {
    if (!Number.isSafeInteger(version)) return false;
    const result = await this.db
      .deleteFrom('layer_versions')
      .where('layer_name', '=', layerName)
      .where('version', '=', version)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
