// events.jsx - this host's events as they happen (the stream), newest
// first.
import { when } from './util.js';

export function EventsPage({ events, self }) {
	return (
		<section aria-labelledby="events-title">
			<h1 id="events-title">Events on {self || 'this host'}</h1>
			<ol class="events" role="log" aria-live="polite" aria-labelledby="events-title">
				{events.map((e) => (
					<li key={e.id} class={`sev-${e.severity}`} data-event={e.id}>
						<time dateTime={e.time}>{when(e.time)}</time>
						<span class={`badge ${e.severity === 'error' ? 'bad' : e.severity === 'warning' ? 'warn' : 'off'}`}>{e.severity}</span>
						{e.vm && <span class="tag">{e.vm}</span>}
						{e.job != null && <span class="tag">job {e.job}</span>}
						<span class="msg">{e.message}</span>
					</li>
				))}
			</ol>
			{events.length === 0 && <p>No events yet.</p>}
		</section>
	);
}
