// Entry of dist/custos.browser.js, the self-contained bundle the worker serves at /sdk/custos.js.
export * from './index.js';
export * from './confirm.js';
