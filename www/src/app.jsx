// app.jsx - the console's shell: the session, the navigation, the live
// stream (/v1/stream: jobs, events, VM changes; one EventSource for the
// whole page) and the fleet refresh (/v1/fleet every 5 s, one request for
// every row).
import { useEffect, useState, useCallback, useRef } from 'preact/hooks';
import { api, setCsrf, setLoggedOutHandler } from './api.js';
import { Login } from './login.jsx';
import { HostsPage } from './hosts.jsx';
import { VmsPage } from './vms.jsx';
import { JobsPage } from './jobs.jsx';
import { ReplicationPage } from './replication.jsx';
import { EventsPage } from './events.jsx';
import { ConsolePage } from './console.jsx';

const PAGES = [
	['hosts', 'Hosts'], ['vms', 'VMs'], ['jobs', 'Jobs'],
	['replication', 'Replication'], ['events', 'Events'], ['console', 'Console'],
];
const MAX_EVENTS = 300;

function route() {
	const h = location.hash.replace(/^#\/?/, '');
	const [page, ...rest] = h.split('/');
	return { page: PAGES.some(([p]) => p === page) ? page : 'vms', arg: decodeURIComponent(rest.join('/')) };
}

export function App() {
	const [session, setSession] = useState(undefined);
	useEffect(() => {
		setLoggedOutHandler(() => setSession(null));
		api('GET', '/v1/session').then((s) => { setCsrf(s.csrf); setSession(s); },
		    () => setSession(null));
	}, []);
	const loggedIn = useCallback((s) => { setCsrf(s.csrf); setSession(s); }, []);
	if (session === undefined)
		return <main id="main" class="center"><p>Loading…</p></main>;
	if (!session)
		return <Login onLogin={loggedIn} />;
	return <Console session={session} onLogout={() => { setCsrf(''); setSession(null); }} />;
}

function useFleet() {
	const [fleet, setFleet] = useState({ hosts: [], vms: [] });
	const [cluster, setCluster] = useState(null);
	const [error, setError] = useState('');
	const refresh = useCallback(async () => {
		try {
			setFleet(await api('GET', '/v1/fleet'));
			setError('');
		} catch (e) { setError(e.message); }
		try { setCluster(await api('GET', '/v1/cluster')); } catch { setCluster(null); }
	}, []);
	useEffect(() => {
		refresh();
		const t = setInterval(refresh, 5000);
		return () => clearInterval(t);
	}, [refresh]);
	return { fleet, setFleet, cluster, error, refresh };
}

function useStream(setFleet) {
	const [jobs, setJobs] = useState(() => new Map());
	const [events, setEvents] = useState([]);
	const [live, setLive] = useState('connecting');
	useEffect(() => {
		api('GET', '/v1/jobs').then((r) => setJobs((m) => {
			const n = new Map(m);
			for (const j of r.jobs || []) if (!n.has(j.id)) n.set(j.id, j);
			return n;
		}), () => {});
		loadEvents().then((list) => setEvents((ev) => {
			const have = new Set(ev.map((e) => e.id));
			const old = list.filter((e) => !have.has(e.id)).reverse();
			return [...ev, ...old].slice(0, MAX_EVENTS);
		}), () => {});
		const es = new EventSource('/v1/stream');
		es.onopen = () => setLive('live');
		es.onerror = () => setLive('reconnecting');
		es.addEventListener('job', (m) => {
			const j = JSON.parse(m.data);
			setJobs((old) => new Map(old).set(j.id, j));
		});
		es.addEventListener('event', (m) => {
			const e = JSON.parse(m.data);
			setEvents((old) => [e, ...old.filter((x) => x.id !== e.id)].slice(0, MAX_EVENTS));
		});
		es.addEventListener('vm', (m) => {
			const vm = JSON.parse(m.data);
			setFleet((f) => ({ ...f, vms: f.vms.map((v) =>
			    v.uuid === vm.uuid && v.host === vm.host ? { ...v, ...vm } : v) }));
		});
		return () => es.close();
	}, [setFleet]);
	return { jobs, events, live };
}

// loadEvents: the newest MAX_EVENTS events, oldest first.  The API lists
// them oldest first from an id on, so page through to the end (bounded).
async function loadEvents() {
	let after = 0;
	let list = [];
	for (let page = 0; page < 50; page++) {
		const r = await api('GET', `/v1/events?after=${after}&limit=1000`);
		const got = r.events || [];
		list = list.concat(got).slice(-MAX_EVENTS);
		if (got.length < 1000) break;
		after = r.last_id;
	}
	return list;
}

export function Console({ session, onLogout }) {
	const [where, setWhere] = useState(route);
	const [notice, setNotice] = useState('');
	const { fleet, setFleet, cluster, error, refresh } = useFleet();
	const { jobs, events, live } = useStream(setFleet);
	const mainRef = useRef(null);
	useEffect(() => {
		const on = () => { setWhere(route()); mainRef.current && mainRef.current.focus(); };
		addEventListener('hashchange', on);
		return () => removeEventListener('hashchange', on);
	}, []);
	const self = (fleet.hosts.find((h) => h.self) || {}).name || '';
	useEffect(() => {
		const label = (PAGES.find(([p]) => p === where.page) || [])[1];
		document.title = `${label} · ${self || 'tern'} · tern console`;
	}, [where.page, self]);
	const admin = session.role === 'admin';
	const logout = async () => {
		try { await api('DELETE', '/v1/session'); } catch { /* gone anyway */ }
		onLogout();
	};
	const ctx = { fleet, cluster, self, admin, jobs, events, refresh, setNotice, arg: where.arg };
	return (
		<div class="shell">
			<a class="skip" href="#main" onClick={(e) => { e.preventDefault(); mainRef.current.focus(); }}>Skip to content</a>
			<header class="top">
				<span class="brand">tern</span>
				<nav aria-label="Pages">
					<ul>
						{PAGES.map(([p, label]) => (
							<li key={p}><a href={`#/${p}`} aria-current={where.page === p ? 'page' : undefined}>{label}</a></li>
						))}
					</ul>
				</nav>
				<span class={`live live-${live}`} title="live updates from this host">{live === 'live' ? '● live' : `○ ${live}`}</span>
				<span class="who">{session.user} <span class="role">({session.role})</span></span>
				<button type="button" onClick={logout}>Log out</button>
			</header>
			<div class="notice" role="status" aria-live="polite">{notice}</div>
			{error && <div class="error" role="alert">{error}</div>}
			<main id="main" tabIndex={-1} ref={mainRef}>
				<Page page={where.page} ctx={ctx} />
			</main>
		</div>
	);
}

function Page({ page, ctx }) {
	switch (page) {
	case 'hosts': return <HostsPage {...ctx} />;
	case 'jobs': return <JobsPage {...ctx} />;
	case 'replication': return <ReplicationPage {...ctx} />;
	case 'events': return <EventsPage {...ctx} />;
	case 'console': return <ConsolePage {...ctx} />;
	default: return <VmsPage {...ctx} />;
	}
}
