// Package console is an adapter: the web console for developers and
// auditors, served by `hookledger serve` at /console/. Its assets (plain
// HTML, CSS and JavaScript modules, no build step) are embedded in the
// binary; the pages call the same /v1 API as every other client, with the
// signed-in key, so the API's roles are the console's roles.
//
// The handler guarantees the headers that keep ledger data inert in the
// browser: a Content-Security-Policy that allows scripts and styles from
// this origin only (no inline script, no eval, no inline style), no
// framing, no referrer, and nosniff. The scripts render every value as
// text (assets/dom.js). docs/console.md says how to use it.
package console
