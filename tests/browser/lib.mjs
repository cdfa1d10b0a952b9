// lib.mjs - Debian's Chromium driven by playwright-core: headless, no
// sandbox (the tests run as root, often inside a lab host's network
// namespace), a fresh profile each time, the lab's self-signed
// certificate accepted.  Never downloads a browser.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
	'--no-first-run', '--disable-background-networking', '--disable-component-update',
	'--disable-sync'];

// browse(fn): fn(page, context) in a fresh browser; always closed after.
export async function browse(fn) {
	const dir = mkdtempSync(join(tmpdir(), 'tern-chromium-'));
	let ctx;
	try {
		ctx = await chromium.launchPersistentContext(dir, {
			executablePath: CHROMIUM, headless: true, args: ARGS,
			ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 },
			timeout: 60000,
		});
		ctx.setDefaultTimeout(20000);
		const page = ctx.pages()[0] || await ctx.newPage();
		return await fn(page, ctx);
	} finally {
		if (ctx) await ctx.close().catch(() => {});
		rmSync(dir, { recursive: true, force: true });
	}
}

// open(page, url): page.goto, again when Chromium reports that the
// network changed.  Chromium ends a navigation with ERR_NETWORK_CHANGED
// whenever an address or link in its namespace changes, and the lab
// host's namespace it runs in gains and loses tap devices as VMs start
// and move (and eth0's IPv6 address leaves its tentative state a moment
// after the lab comes up).  Three tries, a second apart; any other
// error is thrown at once.
export async function open(page, url) {
	for (let i = 1; ; i++) {
		try {
			return await page.goto(url);
		} catch (e) {
			const changed = /ERR_NETWORK_CHANGED|interrupted by another navigation to "chrome-error/.test(e.message);
			if (!changed || i === 3) throw e;
			await page.waitForTimeout(1000);
		}
	}
}

// A tally that prints TAP-like lines the shell test counts.
export class Tally {
	constructor() { this.pass = 0; this.fail = 0; }
	ok(desc) { this.pass++; console.log(`ok - ${desc}`); }
	notOk(desc, why) {
		this.fail++;
		console.log(`not ok - ${desc}`);
		if (why) for (const l of String(why).split('\n').slice(0, 8)) console.log(`#   ${l}`);
	}
	async check(desc, fn) {
		try { await fn(); this.ok(desc); return true; } catch (e) { this.notOk(desc, e.message); return false; }
	}
	summary() { console.log(`${this.pass} passed, ${this.fail} failed`); }
}
