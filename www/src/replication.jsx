// replication.jsx - every replication relationship of this host (both
// roles) and its health; one request every 10 s for the whole table.
import { useEffect, useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { ConfirmDialog } from './dialog.jsx';
import { ago } from './util.js';

export function ReplicationPage({ admin, setNotice, self }) {
	const [rows, setRows] = useState(null);
	const [error, setError] = useState('');
	const [failover, setFailover] = useState(null);
	const load = async () => {
		try { setRows((await api('GET', '/v1/replications')).replications || []); setError(''); }
		catch (e) { setError(e.message); }
	};
	useEffect(() => { load(); const t = setInterval(load, 10000); return () => clearInterval(t); }, []);
	const run = async (r) => {
		const res = await api('POST', `/v1/vms/${enc(r.vm)}/failover`, {});
		setNotice(`Fail over ${r.vm}: job ${res.job && (res.job.id ?? res.job)} started`);
		load();
	};
	return (
		<section aria-labelledby="repl-title">
			<h1 id="repl-title">Replication on {self || 'this host'}</h1>
			{error && <p class="error" role="alert">{error}</p>}
			{rows && rows.length === 0 && <p>No VM of this host replicates, and it holds no replica.</p>}
			{rows && rows.length > 0 && (
				<table class="grid">
					<thead><tr><th scope="col">VM</th><th scope="col">Role</th><th scope="col">Peer</th>
						<th scope="col">State</th><th scope="col">Health</th><th scope="col">Lag</th>
						<th scope="col">Last point</th>{admin && <th scope="col">Actions</th>}</tr></thead>
					<tbody>
						{rows.map((r) => (
							<tr key={r.uuid || r.vm}>
								<th scope="row">{r.vm}</th><td>{r.role}</td><td>{r.peer}</td><td>{r.state}</td>
								<td><Health r={r} /></td>
								<td>{ago(r.lag_ms)}</td><td>{r.seq ?? '–'}</td>
								{admin && <td>{r.role === 'replica' && r.state === 'replica' &&
								    <button type="button" class="danger" onClick={() => setFailover(r)}>Fail over</button>}</td>}
							</tr>
						))}
					</tbody>
				</table>
			)}
			{failover && <ConfirmDialog title={`Fail over ${failover.vm}?`} danger confirmLabel="Fail over"
			    text={`The replica of ${failover.vm} starts here from its latest recovery point; its primary is ${failover.peer}.`}
			    onConfirm={() => run(failover)} onClose={() => setFailover(null)} />}
		</section>
	);
}

function Health({ r }) {
	const cls = r.health === 'normal' ? 'ok' : r.health === 'critical' ? 'bad' : r.health ? 'warn' : 'off';
	const why = (r.health_reasons || []).map((x) => (typeof x === 'string' ? x : x.message || JSON.stringify(x)));
	return (<>
		<span class={`badge ${cls}`}>{r.health || '–'}</span>
		{why.length > 0 && <div class="small">{why.join('; ')}</div>}
	</>);
}
