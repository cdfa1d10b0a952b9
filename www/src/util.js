// util.js - formatting helpers shared by the pages.

export function mib(n) {
	if (n == null) return '–';
	return n >= 1024 ? `${(n / 1024).toFixed(n % 1024 ? 1 : 0)} GiB` : `${n} MiB`;
}

export function bytes(n) {
	if (n == null) return '–';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return `${n.toFixed(i && n < 10 ? 1 : 0)} ${u[i]}`;
}

export function when(t) {
	if (!t) return '–';
	const d = new Date(t);
	return isNaN(d) ? t : d.toLocaleString(undefined, { hour12: false });
}

export function ago(ms) {
	if (ms == null) return '–';
	const s = Math.round(ms / 1000);
	if (s < 60) return `${s} s`;
	if (s < 3600) return `${Math.round(s / 60)} min`;
	return `${(s / 3600).toFixed(1)} h`;
}

// percent: a job's progress, 100 once it succeeded.
export function percent(job) {
	if (job.state === 'succeeded') return 100;
	const p = job.progress || {};
	if (!p.total) return 0;
	return Math.min(100, Math.floor((p.done * 100) / p.total));
}

export function vmIps(vm) {
	const a = (vm.guest && vm.guest.addresses) || [];
	return a.flatMap((n) => n.ips || []).filter((ip) => !ip.startsWith('127.') && !ip.startsWith('::1'));
}

export const ACTIVE_JOB = new Set(['queued', 'running', 'cancelling']);
