// vms.jsx - every VM of the fleet in one table (from /v1/fleet, with
// this host's VMs kept current by the stream), one VM's details, its
// actions and its recent jobs.
import { useMemo, useState } from 'preact/hooks';
import { api, hostPath, enc } from './api.js';
import { actionsFor } from './actions.js';
import { ConfirmDialog } from './dialog.jsx';
import { JobRow } from './jobrow.jsx';
import { Thumb, VncView, screenLive } from './screen.jsx';
import { mib, bytes, vmIps, when } from './util.js';

const key = (vm) => `${vm.host}/${vm.name}`;

export function VmsPage({ fleet, self, admin, jobs, setNotice, refresh, arg }) {
	const [filter, setFilter] = useState('');
	const [picked, setPicked] = useState(arg || '');
	const vms = useMemo(() => {
		const f = filter.toLowerCase();
		return fleet.vms.filter((v) => !f || v.name.toLowerCase().includes(f) || (v.host || '').includes(f));
	}, [fleet.vms, filter]);
	const vm = fleet.vms.find((v) => key(v) === picked);
	return (
		<div class="split">
			<section aria-labelledby="vms-title" class="list">
				<h1 id="vms-title">Virtual machines <span class="count">({fleet.vms.length})</span></h1>
				<label class="filter">Filter <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} /></label>
				<div class="scroll">
					<table class="grid">
						<caption class="sr-only">VMs of every host; choose one for details and actions</caption>
						<thead><tr>
							<th scope="col">Name</th><th scope="col">State</th><th scope="col">Host</th>
							<th scope="col">CPUs</th><th scope="col">Memory</th><th scope="col">Heartbeat</th>
							<th scope="col">IPs</th><th scope="col">Screen</th>
						</tr></thead>
						<tbody>
							{vms.map((v) => <VmRow key={key(v)} vm={v} self={self} picked={key(v) === picked} pick={() => setPicked(key(v))} />)}
						</tbody>
					</table>
				</div>
			</section>
			{vm ? <VmDetails vm={vm} fleet={fleet} self={self} admin={admin} jobs={jobs}
			    setNotice={setNotice} refresh={refresh} />
			    : <aside class="details empty" aria-label="VM details"><p>Choose a VM for its details{admin ? ' and actions' : ''}.</p></aside>}
		</div>
	);
}

function VmRow({ vm, self, picked, pick }) {
	return (
		<tr class={picked ? 'picked' : ''} data-vm={vm.name}>
			<th scope="row"><button type="button" class="link" aria-pressed={picked} onClick={pick}>{vm.name}</button></th>
			<td><VmState s={vm.state} /></td>
			<td>{vm.host}</td>
			<td>{vm.cpus}</td>
			<td>{mib(vm.memory_mib)}</td>
			<td>{vm.heartbeat || (vm.guest && vm.guest.heartbeat) || '–'}</td>
			<td>{vmIps(vm).join(', ') || '–'}</td>
			<td><Thumb vm={vm} self={self} /></td>
		</tr>
	);
}

export function VmState({ s }) {
	const cls = s === 'running' ? 'ok' : s === 'crashed' ? 'bad' : s === 'off' ? 'off' : 'warn';
	return <span class={`badge ${cls}`}>{s}</span>;
}

function VmDetails({ vm, fleet, self, admin, jobs, setNotice, refresh }) {
	const [action, setAction] = useState(null);
	const [options, setOptions] = useState([]);
	const [screen, setScreen] = useState(false);
	const canScreen = admin && screenLive(vm);
	const mine = [...jobs.values()].filter((j) => j.vm === vm.name && vm.host === self)
	    .sort((a, b) => b.id - a.id).slice(0, 5);
	const open = async (a) => {
		setOptions([]);
		setAction(a);
		if (a.field && a.field.from === 'hosts')
			setOptions(fleet.hosts.filter((h) => h.name !== vm.host && h.reachable).map((h) => h.name));
		if (a.field && a.field.from === 'pools') {
			try {
				const r = await api('GET', hostPath(vm.host, self, '/v1/pools'));
				setOptions((r.pools || []).map((p) => p.name));
			} catch (e) { setOptions([]); }
		}
	};
	const run = async (a, value) => {
		const path = hostPath(vm.host, self, `/v1/vms/${enc(vm.name)}/${a.path}`);
		const r = await api('POST', path, a.body ? a.body(value) : undefined);
		const id = r && r.job && (r.job.id ?? r.job);
		setNotice(`${a.label.replace('…', '')} ${vm.name}: ${id != null ? `job ${id} started` : 'done'}`);
		refresh();
	};
	const g = vm.guest || {};
	return (
		<aside class="details" aria-labelledby="vm-title">
			<h2 id="vm-title">{vm.name} <VmState s={vm.state} /></h2>
			<dl class="kv">
				<dt>Host</dt><dd>{vm.host}</dd>
				<dt>CPUs / memory</dt><dd>{vm.cpus} / {mib(vm.memory_mib)}</dd>
				<dt>Guest heartbeat</dt><dd>{vm.heartbeat || g.heartbeat || '–'}{g.agent ? ` · agent ${g.agent}` : ''}</dd>
				<dt>Guest OS</dt><dd>{(g.os && g.os.pretty_name) || g.hostname || '–'}</dd>
				<dt>IPs</dt><dd>{vmIps(vm).join(', ') || '–'}</dd>
				<dt>Started</dt><dd>{when(vm.started_at)}</dd>
			</dl>
			<h3>Disks</h3>
			<ul class="disks">
				{(vm.disks || []).map((d) => (
					<li key={d.name}><strong>{d.name}</strong> {bytes(d.virtual_size)} in {d.pool || d.path}</li>
				))}
			</ul>
			{admin && (
				<div class="actions" role="group" aria-label={`Actions on ${vm.name}`}>
					{actionsFor(vm).map((a) => (
						<button type="button" key={a.id} class={a.danger ? 'danger' : ''} onClick={() => open(a)}>{a.label}</button>
					))}
					{canScreen && !screen && <button type="button" onClick={() => setScreen(true)}>Open screen</button>}
				</div>
			)}
			{canScreen && screen && <VncView key={`${vm.host}/${vm.name}`} vm={vm} self={self} onClose={() => setScreen(false)} />}
			<h3>Recent jobs</h3>
			{mine.length ? (
				<table class="grid compact"><thead><tr><th scope="col">Job</th><th scope="col">Type</th>
					<th scope="col">State</th><th scope="col">Phase</th><th scope="col">Progress</th></tr></thead>
				<tbody>{mine.map((j) => <JobRow key={j.id} job={j} compact />)}</tbody></table>
			) : <p class="small">{vm.host === self ? 'None yet.' : `Jobs of ${vm.host} show on its own console.`}</p>}
			{action && (
				<ConfirmDialog title={`${action.label.replace('…', '')} ${vm.name}?`}
				    text={`${action.text || ''} On host ${vm.host}.`}
				    field={action.field && { ...action.field, options }}
				    confirmLabel={action.label.replace('…', '')} danger={action.danger}
				    onConfirm={(v) => run(action, v)} onClose={() => setAction(null)} />
			)}
		</aside>
	);
}
