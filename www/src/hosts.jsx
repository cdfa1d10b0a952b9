// hosts.jsx - every host of the fleet (this one, its trusted peers, its
// cluster's nodes), reachable or not, and the cluster's view of each node.
import { mib } from './util.js';

function nodeOf(cluster, name) {
	const c = cluster && cluster.cluster;
	return c ? (c.nodes || []).find((n) => n.name === name) : null;
}

export function HostsPage({ fleet, cluster }) {
	const c = cluster && cluster.cluster;
	const names = new Set(fleet.hosts.map((h) => h.name));
	const extra = c ? (c.nodes || []).filter((n) => !names.has(n.name)) : [];
	return (
		<section aria-labelledby="hosts-title">
			<h1 id="hosts-title">Hosts</h1>
			{c && <ClusterSummary c={c} />}
			<table class="grid">
				<caption class="sr-only">Hosts of this fleet</caption>
				<thead><tr>
					<th scope="col">Host</th><th scope="col">Address</th><th scope="col">Reachable</th>
					<th scope="col">Cluster node</th><th scope="col">CPUs</th><th scope="col">Memory (free)</th>
					<th scope="col">VMs (running)</th><th scope="col">Version</th><th scope="col">Accel</th>
				</tr></thead>
				<tbody>
					{fleet.hosts.map((h) => <HostRow key={h.name} h={h} node={nodeOf(cluster, h.name)} />)}
					{extra.map((n) => (
						<tr key={n.name}><th scope="row">{n.name}</th><td>{n.addr}</td>
							<td><span class="badge bad">not a trusted peer</span></td>
							<td><NodeState n={n} /></td><td colSpan={5} /></tr>
					))}
				</tbody>
			</table>
			{fleet.hosts.length === 0 && <p>Loading the fleet…</p>}
		</section>
	);
}

function HostRow({ h, node }) {
	const i = h.host || {};
	return (
		<tr>
			<th scope="row">{h.name}{h.self && <span class="tag">this host</span>}</th>
			<td>{h.address || (i.listen || '–')}</td>
			<td>{h.reachable ? <span class="badge ok">yes</span>
			    : <span class="badge bad" title={h.error}>no</span>}
			    {!h.reachable && h.error && <div class="small">{h.error}</div>}</td>
			<td>{node ? <NodeState n={node} /> : '–'}</td>
			<td>{i.cpus ?? '–'}</td>
			<td>{i.memory_mib != null ? `${mib(i.memory_mib)} (${mib(i.memory_available_mib)})` : '–'}</td>
			<td>{i.vms ? `${i.vms.total} (${i.vms.running})` : '–'}</td>
			<td>{i.version || '–'}</td>
			<td>{i.accel || '–'}</td>
		</tr>
	);
}

function NodeState({ n }) {
	const cls = n.state === 'up' ? 'ok' : n.state === 'down' ? 'bad' : 'warn';
	return <span class={`badge ${cls}`}>{n.state}{n.drain ? ` · drain ${n.drain}` : ''}</span>;
}

function ClusterSummary({ c }) {
	const q = c.quorum || {};
	return (
		<p class="summary">
			Cluster <strong>{c.name}</strong>: {q.quorate ? <span class="badge ok">quorate</span>
			    : <span class="badge bad">no quorum</span>} votes {q.votes ?? '–'}/{q.expected ?? '–'},
			{' '}{(c.nodes || []).length} nodes, Corosync {c.corosync || '–'}
			{q.witness ? `, witness ${q.witness.casts_vote ? 'voting' : 'not voting'}` : ''}
		</p>
	);
}
