import { html } from 'htm/preact';
import type { VNode } from 'preact';

/** JSX-like templates without a build step: html`<div class=${x}>…</div>` (htm bound to Preact's h). */
export { html };

export type View = VNode;
