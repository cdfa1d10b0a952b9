// jobs.jsx - this host's jobs, newest first, their progress as the
// stream sends it (no request per row).
import { useMemo } from 'preact/hooks';
import { JobRow } from './jobrow.jsx';
import { ACTIVE_JOB } from './util.js';

export function JobsPage({ jobs, self }) {
	const list = useMemo(() => [...jobs.values()].sort((a, b) => b.id - a.id).slice(0, 100), [jobs]);
	const active = list.filter((j) => ACTIVE_JOB.has(j.state)).length;
	return (
		<section aria-labelledby="jobs-title">
			<h1 id="jobs-title">Jobs on {self || 'this host'} <span class="count">({active} active)</span></h1>
			<div class="scroll">
				<table class="grid" aria-describedby="jobs-title">
					<thead><tr><th scope="col">Job</th><th scope="col">Type</th><th scope="col">VM</th>
						<th scope="col">State</th><th scope="col">Phase</th><th scope="col">Progress</th></tr></thead>
					<tbody aria-live="polite" aria-relevant="additions">
						{list.map((j) => <JobRow key={j.id} job={j} />)}
					</tbody>
				</table>
			</div>
			{list.length === 0 && <p>No jobs yet.</p>}
		</section>
	);
}
