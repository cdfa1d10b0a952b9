// jobrow.jsx - one job with its progress bar, as the stream last told it.
import { percent, bytes } from './util.js';

export function JobProgress({ job }) {
	const pct = percent(job);
	const p = job.progress || {};
	const amount = p.unit === 'bytes' && p.total ? ` · ${bytes(p.done)} of ${bytes(p.total)}` : '';
	return (
		<div class="progress-cell">
			<progress max="100" value={pct} aria-label={`job ${job.id} ${job.type} progress`}
			    data-job={job.id}>{pct} %</progress>
			<span class="pct" data-job-pct={job.id}>{pct} %</span>
			<span class="small">{amount}{job.eta_s ? ` · ${job.eta_s} s left` : ''}</span>
		</div>
	);
}

export function JobState({ job }) {
	const cls = job.state === 'succeeded' ? 'ok' : job.state === 'failed' ? 'bad'
	    : job.state === 'cancelled' ? 'warn' : 'run';
	return <span class={`badge ${cls}`} data-job-state={job.id}>{job.state}</span>;
}

export function JobRow({ job, host, compact }) {
	return (
		<tr data-job-row={job.id}>
			<td>{job.id}</td>
			<td>{job.type}</td>
			{!compact && <td>{job.vm || '–'}</td>}
			{host !== undefined && <td>{host}</td>}
			<td><JobState job={job} />{job.error && <div class="small err-text">{job.error}</div>}</td>
			<td>{job.phase || '–'}</td>
			<td><JobProgress job={job} /></td>
		</tr>
	);
}
