/** The CLI's calls on layers (/v1/layers): publish a version, list, get and delete versions. */
import type { LayerVersionRecord } from '../../core/layer.js';
import type { Transport } from './transport.js';

/** A layer version as the API shows it, with its ARNs. */
type LayerVersionView = LayerVersionRecord & { arn: string; layerArn: string };

/** What a layer version is published with besides its zip. */
interface LayerMetadata {
  description?: string | undefined;
  compatibleRuntimes?: string[] | undefined;
  licenseInfo?: string | undefined;
}

function layerPath(name: string): string {
  return `/v1/layers/${encodeURIComponent(name)}`;
}

function layerVersionPath(name: string, version: string): string {
  return `${layerPath(name)}/versions/${encodeURIComponent(version)}`;
}

export class LayersApi {
  constructor(private readonly http: Transport) {}

  /** Publishes the zip as the layer's next version (sent as is, metadata in the query). */
  async publish(name: string, zip: Buffer, meta: LayerMetadata): Promise<LayerVersionView> {
    const res = await this.http.call('POST', `${layerPath(name)}/versions`, {
      body: zip,
      contentType: 'application/zip',
      query: {
        description: meta.description,
        licenseInfo: meta.licenseInfo,
        compatibleRuntimes: meta.compatibleRuntimes?.join(','),
      },
    });
    return this.http.json(res);
  }

  async list(): Promise<{
    layers: { layerName: string; layerArn: string; latest: LayerVersionView }[];
  }> {
    return this.http.json(await this.http.call('GET', '/v1/layers'));
  }

  async listVersions(name: string): Promise<{ versions: LayerVersionView[] }> {
    return this.http.json(await this.http.call('GET', `${layerPath(name)}/versions`));
  }

  async getVersion(name: string, version: string): Promise<LayerVersionView> {
    return this.http.json(await this.http.call('GET', layerVersionPath(name, version)));
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', layerVersionPath(name, version)));
  }
}
