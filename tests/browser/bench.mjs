// bench.mjs - the console's figures in a real browser (bench/console.sh):
//   node bench.mjs paint URL USER PASSWORD VMS RUNS
//       per run, a fresh browser, logged in, loads the VMs page: the
//       first contentful paint and the time until all VMS rows show (ms
//       from navigation start), one JSON line per run
//   node bench.mjs jobs URL USER PASSWORD VM...
//       the Jobs page open; each VM started then stopped from the page:
//       when each job's final state showed on the page minus the job's own
//       ended_at, one JSON line per job
//   node bench.mjs hold URL USER PASSWORD VMS SECONDS
//       the VMs page open with VMS rows for SECONDS ("open" once shown)
import { browse, open } from './lib.mjs';

const [mode, url, user, password, ...rest] = process.argv.slice(2);

async function login(page) {
	await open(page, url);
	await page.getByLabel('User name').fill(user);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.getByRole('navigation', { name: 'Pages' }).waitFor();
}

async function rows(page, n) {
	await page.waitForFunction((k) => document.querySelectorAll('tr[data-vm]').length >= k, n,
	    { timeout: 60000, polling: 'raf' });
}

async function paint() {
	const [n, runs] = rest.map(Number);
	for (let i = 0; i < runs; i++) {
		await browse(async (page) => {
			await login(page);
			await open(page, 'about:blank');
			await open(page, `${url}/#/vms`);
			await rows(page, n);
			const r = await page.evaluate(() => {
				const fcp = performance.getEntriesByName('first-contentful-paint')[0];
				return { fcp_ms: fcp ? Math.round(fcp.startTime) : null, rows_ms: Math.round(performance.now()) };
			});
			console.log(JSON.stringify({ run: i + 1, vms: n, ...r }));
		});
	}
}

async function jobs() {
	await browse(async (page) => {
		await login(page);
		await page.evaluate(() => { location.hash = '#/jobs'; });
		await page.getByRole('heading', { name: /^Jobs on/ }).waitFor();
		await page.evaluate(() => {
			window.__seen = {};
			const scan = () => {
				const now = Date.now();
				for (const el of document.querySelectorAll('[data-job-state]')) {
					const k = `${el.dataset.jobState}:${el.textContent}`;
					if (!(k in window.__seen)) window.__seen[k] = now;
				}
			};
			new MutationObserver(scan).observe(document.body,
			    { subtree: true, childList: true, characterData: true });
		});
		for (const vm of rest) {
			for (const action of ['start', 'stop']) {
				const id = await page.evaluate(async ([v, a]) => {
					const s = await (await fetch('/v1/session')).json();
					const r = await fetch(`/v1/vms/${v}/${a}`, { method: 'POST', headers: { 'X-CSRF-Token': s.csrf } });
					const b = await r.json();
					if (!r.ok) throw new Error(JSON.stringify(b));
					return b.job && (b.job.id ?? b.job);
				}, [vm, action]);
				const key = `${id}:succeeded`;
				await page.waitForFunction((k) => k in window.__seen, key, { timeout: 120000 });
				const r = await page.evaluate(async ([i, k]) => {
					const j = await (await fetch(`/v1/jobs/${i}`)).json();
					return { job: i, type: j.type, state: j.state, ended_at: j.ended_at,
					    latency_ms: window.__seen[k] - Date.parse(j.ended_at) };
				}, [id, key]);
				console.log(JSON.stringify(r));
			}
		}
	});
}

async function hold() {
	const [n, secs] = rest.map(Number);
	await browse(async (page) => {
		await login(page);
		await page.evaluate(() => { location.hash = '#/vms'; });
		await rows(page, n);
		console.log('open');
		await page.waitForTimeout(secs * 1000);
		const shown = await page.evaluate(() => document.querySelectorAll('tr[data-vm]').length);
		console.log(JSON.stringify({ rows: shown }));
	});
}

const run = { paint, jobs, hold }[mode];
if (!run) {
	console.error('usage: node bench.mjs paint|jobs|hold URL USER PASSWORD ...');
	process.exit(2);
}
await run();
