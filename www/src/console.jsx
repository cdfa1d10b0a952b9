// console.jsx - a VM's serial console, read only: this host's VMs
// followed live (/v1/vms/VM/console?follow=1), another host's read once
// through the forwarding route.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, hostPath, enc } from './api.js';

const KEEP = 256 * 1024;

export function ConsolePage({ fleet, self, arg }) {
	const [pick, setPick] = useState(arg || '');
	const vms = fleet.vms;
	useEffect(() => {
		if (!pick && vms.length) {
			const r = vms.find((v) => v.host === self && v.state === 'running') || vms[0];
			setPick(`${r.host}/${r.name}`);
		}
	}, [vms, pick, self]);
	const [host, ...rest] = pick.split('/');
	const name = rest.join('/');
	return (
		<section aria-labelledby="con-title" class="console-page">
			<h1 id="con-title">Serial console</h1>
			<label for="con-vm">VM</label> <select id="con-vm" value={pick} onChange={(e) => setPick(e.currentTarget.value)}>
				{vms.map((v) => <option key={`${v.host}/${v.name}`} value={`${v.host}/${v.name}`}>{v.name} ({v.host})</option>)}
			</select>
			{name && <Log key={pick} host={host} name={name} self={self} />}
		</section>
	);
}

function Log({ host, name, self }) {
	const [text, setText] = useState('');
	const [status, setStatus] = useState('connecting…');
	const pre = useRef(null);
	const follow = useRef(true);
	useEffect(() => {
		if (host !== self) {
			api('GET', hostPath(host, self, `/v1/vms/${enc(name)}/console`)).then(
			    (r) => { setText(r.data || ''); setStatus(`read once from ${host} (live follow is for this host's VMs)`); },
			    (e) => setStatus(e.message));
			return undefined;
		}
		const es = new EventSource(`/v1/vms/${enc(name)}/console?follow=1`);
		es.onopen = () => setStatus('following');
		es.onerror = () => setStatus('reconnecting…');
		es.addEventListener('console', (m) => {
			const chunk = JSON.parse(m.data);
			setText((t) => (t + chunk).slice(-KEEP));
		});
		return () => es.close();
	}, [host, name, self]);
	useEffect(() => {
		const p = pre.current;
		if (p && follow.current) p.scrollTop = p.scrollHeight;
	}, [text]);
	const onScroll = () => {
		const p = pre.current;
		follow.current = p.scrollTop + p.clientHeight >= p.scrollHeight - 8;
	};
	return (<>
		<p class="small" role="status">{name} on {host}: {status}</p>
		<pre class="serial" ref={pre} onScroll={onScroll} tabIndex={0} aria-label={`serial console of ${name}`}>{text}</pre>
	</>);
}
