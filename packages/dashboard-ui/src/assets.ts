import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the daemon finds each file it serves under `/ui/` (the built views, their page and styles, the vendored libraries). */
export interface DashboardAssets {
  /** `index.html`, `style.css`. */
  staticDir: string;
  /** The views, compiled by tsc (ES modules). */
  scriptDir: string;
  /** ES module builds of preact, preact/hooks, htm and htm/preact, by the name the page's import map gives them. */
  vendor: Readonly<Record<string, string>>;
}

/** Resolves the files once; the daemon serves nothing outside these paths. */
export function dashboardAssets(): DashboardAssets {
  const here = dirname(fileURLToPath(import.meta.url));
  const packageDir = join(here, '..', '..');
  const require = createRequire(import.meta.url);
  // Both main entries live in <package>/dist/ (htm's exports map has no ./package.json to resolve).
  const preactDir = dirname(dirname(require.resolve('preact')));
  const htmDir = dirname(dirname(require.resolve('htm')));
  return {
    staticDir: join(packageDir, 'static'),
    scriptDir: here,
    vendor: {
      'preact.mjs': join(preactDir, 'dist', 'preact.mjs'),
      'hooks.mjs': join(preactDir, 'hooks', 'dist', 'hooks.mjs'),
      'htm.mjs': join(htmDir, 'dist', 'htm.mjs'),
      'htm-preact.mjs': join(htmDir, 'preact', 'index.mjs'),
    },
  };
}
