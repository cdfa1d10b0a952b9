// console.mjs - the web console in a real browser, one role per run:
//   node console.mjs admin    URL USER PASSWORD VM [SHOTDIR]
//   node console.mjs viewer   URL USER PASSWORD VM
//   node console.mjs badlogin URL USER PASSWORD
//   node console.mjs replication URL USER PASSWORD VM [SHOTDIR]
//   node console.mjs screen   URL USER PASSWORD VM [SHOTDIR]   (VM running)
// OTHER_VM=HOST/VM: another host's VM, acted on through this host.
// Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed".
import { browse, open, Tally } from './lib.mjs';

const [mode, url, user, password, vm, shots] = process.argv.slice(2);
const other = process.env.OTHER_VM || ''; // HOST/VM: another host's VM
const T = new Tally();
const GENERIC = 'login failed: wrong user name or password, or not a member of tern-admin or tern-viewer';

async function login(page, u, pw) {
	await open(page, url);
	await page.getByLabel('User name').fill(u);
	await page.getByLabel('Password').fill(pw);
	await page.getByRole('button', { name: 'Log in' }).click();
}

async function shot(page, name) {
	if (!shots) return;
	await page.waitForTimeout(300);
	await page.screenshot({ path: `${shots}/${name}.png` });
}

function go(page, where) {
	return page.evaluate((w) => { location.hash = w; }, where);
}

async function pickVm(page) {
	await go(page, '#/vms');
	const b = page.getByRole('button', { name: vm, exact: true });
	await b.waitFor();
	await b.click();
	await page.getByRole('heading', { level: 2, name: new RegExp(`^${vm}`) }).waitFor();
}

async function admin(page) {
	await open(page, url);
	await page.getByLabel('User name').waitFor();
	await shot(page, 'login');
	await T.check('admin logs in', async () => {
		await login(page, user, password);
		await page.getByRole('navigation', { name: 'Pages' }).waitFor({ timeout: 60000 });
		await page.getByText(`${user} (admin)`).waitFor();
	});
	await T.check(`admin sees VM ${vm}`, () => pickVm(page));
	let job = null;
	await T.check(`admin starts ${vm} through the confirmation dialog`, async () => {
		await page.getByRole('group', { name: `Actions on ${vm}` }).getByRole('button', { name: 'Start' }).click();
		const dlg = page.getByRole('dialog');
		await dlg.waitFor();
		await dlg.getByRole('button', { name: 'Start' }).click();
		const note = page.getByRole('status').filter({ hasText: /job \d+ started/ });
		await note.waitFor();
		job = Number((await note.textContent()).match(/job (\d+) started/)[1]);
	});
	if (job == null) return;
	await go(page, '#/jobs');
	const seen = new Set();
	await T.check(`job ${job}'s progress bar reaches 100 %`, async () => {
		const pct = page.locator(`[data-job-pct="${job}"]`);
		const bar = page.getByRole('progressbar', { name: new RegExp(`^job ${job} `) });
		await pct.waitFor();
		const end = Date.now() + 120000;
		for (;;) {
			const t = (await pct.textContent()).trim();
			seen.add(t);
			if (t === '100 %') break;
			if (Date.now() > end) throw new Error(`stuck at ${t}`);
			await page.waitForTimeout(100);
		}
		const v = await bar.getAttribute('value');
		if (v !== '100') throw new Error(`progress value ${v}`);
	});
	await T.check(`job ${job} succeeded (seen: ${[...seen].join(', ')})`, () =>
	    page.locator(`[data-job-state="${job}"]`, { hasText: 'succeeded' }).waitFor({ timeout: 60000 }));
	await shot(page, 'jobs');
	await go(page, '#/events');
	await T.check(`an event of job ${job} appears`, () =>
	    page.getByRole('log').locator('li', { hasText: `job ${job}` }).first().waitFor({ timeout: 30000 }));
	await shot(page, 'events');
	await T.check(`the serial console of ${vm} follows the guest`, async () => {
		await go(page, `#/console`);
		const sel = page.getByLabel('VM', { exact: true });
		await sel.locator('option').first().waitFor({ state: 'attached' });
		const opts = await sel.locator('option').allTextContents();
		await sel.selectOption({ label: opts.find((x) => x.startsWith(`${vm} (`)) });
		await page.getByLabel(`serial console of ${vm}`).filter({ hasText: 'TERN-GUEST-READY' })
		    .waitFor({ timeout: 120000 });
	});
	await shot(page, 'console');
	await pickVm(page);
	await page.locator('dd', { hasText: /^ok/ }).first().waitFor({ timeout: 15000 }).catch(() => {});
	await shot(page, 'vms');
	await T.check('Escape cancels a confirmation dialog', async () => {
		await page.getByRole('group', { name: `Actions on ${vm}` }).getByRole('button', { name: 'Pause' }).click();
		await page.getByRole('dialog').waitFor();
		await page.keyboard.press('Escape');
		await page.getByRole('dialog').waitFor({ state: 'detached' });
	});
	if (other) {
		const [ohost, ovm] = other.split('/');
		await T.check(`a checkpoint of ${ovm} on ${ohost} goes through this host`, async () => {
			await page.getByRole('button', { name: ovm, exact: true }).click();
			await page.getByRole('group', { name: `Actions on ${ovm}` }).getByRole('button', { name: 'Checkpoint…' }).click();
			const dlg = page.getByRole('dialog');
			await dlg.getByLabel('Checkpoint name (optional)').fill('console-cp');
			await dlg.getByRole('button', { name: 'Checkpoint' }).click();
			await page.getByRole('status').filter({ hasText: `Checkpoint ${ovm}: job` }).waitFor();
		});
	}
	await go(page, '#/hosts');
	await page.getByRole('heading', { name: 'Hosts' }).waitFor();
	await T.check('the hosts page lists every host as reachable', async () => {
		await page.locator('tbody tr').first().waitFor();
		const bad = await page.locator('tbody td:nth-child(3) .badge.bad').count();
		if (bad) throw new Error(`${bad} host(s) unreachable`);
	});
	await shot(page, 'hosts');
}

async function replication(page) {
	await login(page, user, password);
	await go(page, '#/replication');
	await page.getByRole('heading', { name: /^Replication/ }).waitFor();
	await T.check(`the replication page shows ${vm} replicating with its health`, async () => {
		const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: vm, exact: true }) });
		await row.filter({ hasText: 'replicating' }).filter({ hasText: /normal|warning|critical/ })
		    .waitFor({ timeout: 180000 });
	});
	await shot(page, 'replication');
}

async function viewer(page) {
	await T.check('viewer logs in', async () => {
		await login(page, user, password);
		await page.getByText(`${user} (viewer)`).waitFor({ timeout: 60000 });
	});
	await T.check(`viewer sees VM ${vm}`, () => pickVm(page));
	await T.check('viewer sees no action buttons', async () => {
		const n = await page.getByRole('group', { name: /^Actions on/ }).count();
		const b = await page.getByRole('button', { name: /^(Start|Stop|Shut down|Pause|Resume|Move|Backup|Checkpoint|Fail over)/ }).count();
		if (n || b) throw new Error(`${n} action groups, ${b} action buttons`);
	});
	if (other) await T.check(`a forged start of ${other} through this host is refused (403)`, async () => {
		const [ohost, ovm] = other.split('/');
		const r = await page.evaluate(async ([h, name]) => {
			const s = await (await fetch('/v1/session')).json();
			const res = await fetch(`/v1/hosts/${h}/v1/vms/${encodeURIComponent(name)}/start`, {
				method: 'POST', headers: { 'X-CSRF-Token': s.csrf } });
			return { status: res.status, body: await res.text() };
		}, [ohost, ovm]);
		if (r.status !== 403 || !r.body.includes('viewer role cannot act'))
			throw new Error(`HTTP ${r.status} ${r.body}`);
	});
	await T.check('viewer gets no screen button', async () => {
		const n = await page.getByRole('button', { name: 'Open screen' }).count();
		if (n) throw new Error(`${n} screen buttons`);
	});
	await T.check('a VNC WebSocket from the viewer\'s page is refused', async () => {
		const r = await page.evaluate((name) => new Promise((done) => {
			const ws = new WebSocket(`wss://${location.host}/v1/vms/${encodeURIComponent(name)}/vnc`, ['binary']);
			ws.onopen = () => { ws.close(); done('opened'); };
			ws.onerror = () => done('refused');
			setTimeout(() => done('timeout'), 15000);
		}), vm);
		if (r !== 'refused') throw new Error(r);
	});
	await T.check('a forged stop from the viewer\'s page is refused (403)', async () => {
		const r = await page.evaluate(async (name) => {
			const s = await (await fetch('/v1/session')).json();
			const res = await fetch(`/v1/vms/${encodeURIComponent(name)}/stop`, {
				method: 'POST', headers: { 'X-CSRF-Token': s.csrf } });
			return { status: res.status, body: await res.text() };
		}, vm);
		if (r.status !== 403 || !r.body.includes('viewer role cannot act'))
			throw new Error(`HTTP ${r.status} ${r.body}`);
	});
}

// The VM's screen: its thumbnail in the list, and noVNC connected over
// ternd's WebSocket with a canvas drawn.  SCREEN_HOST=H: the VM is on
// host H, not this one: the thumbnail and the WebSocket must go through
// this host's /v1/hosts/H/v1/vms/VM/... (the browser trusts only it).
async function screen(page) {
	const via = process.env.SCREEN_HOST ? `/v1/hosts/${process.env.SCREEN_HOST}` : '';
	const sockets = [];
	page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));
	await login(page, user, password);
	await page.getByText(`${user} (admin)`).waitFor({ timeout: 60000 });
	await T.check(`the VM list shows a thumbnail of ${vm}'s screen`, async () => {
		await go(page, '#/vms');
		const img = page.locator(`img[data-thumb="${vm}"]`);
		await img.waitFor({ timeout: 30000 });
		await page.waitForFunction((n) => {
			const i = document.querySelector(`img[data-thumb="${n}"]`);
			return i && i.complete && i.naturalWidth > 0;
		}, vm, { timeout: 30000 });
		const src = new URL(await img.getAttribute('src'), url).pathname;
		if (src !== `${via}/v1/vms/${vm}/screenshot`)
			throw new Error(`thumbnail from ${src}`);
	});
	await T.check(`noVNC connects to ${vm}'s screen`, async () => {
		await pickVm(page);
		await page.getByRole('button', { name: 'Open screen' }).click();
		await page.locator('[data-vnc-status]', { hasText: /^connected$/ }).waitFor({ timeout: 60000 });
		if (!sockets.includes(`${via}/v1/vms/${vm}/vnc`))
			throw new Error(`WebSockets opened: ${sockets.join(', ') || 'none'}`);
	});
	await T.check('noVNC draws the screen on a canvas', async () => {
		await page.waitForFunction(() => {
			const c = document.querySelector('.vnc-screen canvas');
			return c && c.width > 0 && c.height > 0;
		}, null, { timeout: 30000 });
	});
	await shot(page, 'screen');
	await T.check('closing the screen disconnects', async () => {
		await page.getByRole('button', { name: 'Close screen' }).click();
		await page.getByRole('button', { name: 'Open screen' }).waitFor();
	});
}

async function badlogin(page) {
	for (const [u, pw, why] of [[user, password + 'x', 'a wrong password'], ['nosuchuser-tern', password, 'an unknown user']]) {
		await T.check(`${why} gets the generic login error`, async () => {
			await login(page, u, pw);
			const alert = page.getByRole('alert').filter({ hasText: 'login failed' });
			await alert.waitFor();
			const t = (await alert.textContent()).trim();
			if (t !== GENERIC) throw new Error(`said: ${t}`);
		});
	}
}

const run = { admin, viewer, badlogin, replication, screen }[mode];
if (!run) {
	console.error('usage: node console.mjs admin|viewer|badlogin|replication|screen URL USER PASSWORD [VM [SHOTDIR]]');
	process.exit(2);
}
try {
	await browse(run);
} catch (e) {
	T.notOk(`${mode}: the browser run`, e.stack || e.message);
}
T.summary();
process.exit(T.fail ? 1 : 0);
