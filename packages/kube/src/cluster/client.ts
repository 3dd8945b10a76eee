import { KubeConfig } from '@kubernetes/client-node';

/** A kubeconfig file, or the pod's ServiceAccount (in-cluster config) when none is given. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfig === undefined) config.loadFromCluster();
  else config.loadFromFile(kubeconfig);
  return config;
}

/** The HTTP status of a failed client-node call (its ApiException's `code`), if it got that far. */
export function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** "HTTP 403: services "web" is forbidden: …" rather than the client's multi-line dump. */
export function describeApiError(err: unknown): string {
  const status = httpStatus(err);
  if (status === undefined) return (err as Error).message;
  const body = (err as { body?: unknown }).body;
  let reason = '';
  try {
    reason = (JSON.parse(String(body)) as { message?: string }).message ?? '';
  } catch {
    reason = typeof body === 'string' ? body.slice(0, 200) : '';
  }
  return `HTTP ${status}${reason === '' ? '' : `: ${reason}`}`;
}

/** One API call, bounded in time, so that a hung API server cannot hold everything behind it. */
export async function bounded<T>(call: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the Kubernetes API did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A person's credentials, for the CLI: the file given, else kubectl's ($KUBECONFIG, ~/.kube/config). */
export function loadUserKubeConfig(kubeconfig?: string): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfig === undefined) config.loadFromDefault();
  else config.loadFromFile(kubeconfig);
  if (config.getCurrentCluster() === null) throw new Error('the kubeconfig names no current cluster');
  return config;
}
