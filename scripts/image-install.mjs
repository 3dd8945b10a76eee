#!/usr/bin/env node
// The container image's install step, in one file that the Dockerfile COPYs and RUNs and that
// test/e2e/image-contents.test.ts runs too, so the image's contents and the test cannot drift.
//
//   node scripts/image-install.mjs SRC DEST
//
// SRC is a built checkout (`npm ci` and `tsc -b` done). DEST receives what `detour manager`
// and `detour agent` need at run time and nothing else:
//   - the root package.json and package-lock.json (the lockfile pins every version);
//   - for each workspace @detour/cli depends on, directly or not, its package.json and its
//     compiled dist/src (no tests, no sources, no tsbuildinfo), its static/ files when it has
//     some (served as they are: the dashboard's page and styles), and the cli's bin/;
//   - node_modules from `npm ci --omit=dev` for exactly those workspaces.
// Which workspaces are needed is read from the package.json files, so a new package that the
// CLI depends on is picked up without editing this file or the Dockerfile.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ENTRY_PACKAGE = '@detour/cli';

/**
 * `npm ci` flags, all here. --ignore-scripts: the root `prepare` script runs `tsc -b`, which is
 * neither wanted nor installed without dev dependencies, and no run-time dependency needs an
 * install script. --omit=dev: no test or build tooling in the image.
 */
const NPM_CI_ARGS = ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'];

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Maps each workspace's package name to its folder, from the root package.json. */
function workspaceFolders(src) {
  const folders = new Map();
  for (const folder of readJson(join(src, 'package.json')).workspaces) {
    folders.set(readJson(join(src, folder, 'package.json')).name, folder);
  }
  return folders;
}

/** The workspaces ENTRY_PACKAGE needs at run time: the closure over `dependencies` (not dev). */
function runtimeWorkspaces(src) {
  const folders = workspaceFolders(src);
  const needed = new Set();
  const pending = [ENTRY_PACKAGE];
  while (pending.length > 0) {
    const name = pending.pop();
    if (needed.has(name)) continue;
    needed.add(name);
    const manifest = readJson(join(src, folders.get(name), 'package.json'));
    for (const dependency of Object.keys(manifest.dependencies ?? {})) {
      if (folders.has(dependency)) pending.push(dependency);
    }
  }
  return [...needed].map((name) => folders.get(name)).sort();
}

function install(src, dest) {
  const workspaces = runtimeWorkspaces(src);
  mkdirSync(dest, { recursive: true });
  // The root manifest keeps its full `workspaces` list so that the lockfile still matches it;
  // `--workspace` below limits what npm installs to the copied ones.
  cpSync(join(src, 'package.json'), join(dest, 'package.json'));
  cpSync(join(src, 'package-lock.json'), join(dest, 'package-lock.json'));
  for (const folder of workspaces) {
    mkdirSync(join(dest, folder), { recursive: true });
    cpSync(join(src, folder, 'package.json'), join(dest, folder, 'package.json'));
    cpSync(join(src, folder, 'dist', 'src'), join(dest, folder, 'dist', 'src'), { recursive: true, filter: (path) => !path.endsWith('.tsbuildinfo') });
    if (existsSync(join(src, folder, 'static'))) cpSync(join(src, folder, 'static'), join(dest, folder, 'static'), { recursive: true });
  }
  const cli = workspaceFolders(src).get(ENTRY_PACKAGE);
  cpSync(join(src, cli, 'bin'), join(dest, cli, 'bin'), { recursive: true });
  const npm = spawnSync('npm', [...NPM_CI_ARGS, ...workspaces.map((folder) => `--workspace=${folder}`)], { cwd: dest, stdio: 'inherit' });
  if (npm.status !== 0) throw new Error(`npm ci failed in ${dest} (exit ${npm.status ?? npm.signal})`);
  process.stdout.write(`installed ${workspaces.join(', ')} into ${dest}\n`);
}

const [src, dest] = process.argv.slice(2);
if (src === undefined || dest === undefined) {
  process.stderr.write('usage: node scripts/image-install.mjs SRC DEST\n');
  process.exitCode = 2;
} else {
  install(src, dest);
}
