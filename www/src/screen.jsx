// screen.jsx - a VM's screen: a thumbnail of its screenshot (GET
// /v1/vms/VM/screenshot, refreshed every 10 s while it is on screen and
// the page is visible), and its graphical console through noVNC over
// ternd's WebSocket (wss://HOST/v1/vms/VM/vnc; the session cookie
// authorizes, admins only, and ternd checks the Origin).  A VM of another
// host goes through this one (/v1/hosts/PEER/v1/vms/VM/...): the browser
// trusts only the host it logged in to, which relays to its peer.
import { useEffect, useRef, useState } from 'preact/hooks';
import RFB from '@novnc/novnc';
import { enc, hostPath } from './api.js';

const THUMB_MS = 10000;
const live = (vm) => vm.state === 'running' || vm.state === 'paused';

// A thumbnail for every running VM of the fleet; nothing for the others.
export function Thumb({ vm, self }) {
	const ref = useRef(null);
	const [tick, setTick] = useState(Date.now());
	const [seen, setSeen] = useState(false);
	const [broken, setBroken] = useState(false);
	const on = live(vm);
	const shot = hostPath(vm.host, self, `/v1/vms/${enc(vm.name)}/screenshot`);
	useEffect(() => {
		if (!on || !ref.current || typeof IntersectionObserver === 'undefined')
			return undefined;
		const io = new IntersectionObserver((es) => setSeen(es.some((e) => e.isIntersecting)));
		io.observe(ref.current);
		return () => io.disconnect();
	}, [on]);
	useEffect(() => {
		if (!on || !seen)
			return undefined;
		const t = setInterval(() => {
			if (document.visibilityState === 'visible')
				setTick(Date.now());
		}, THUMB_MS);
		return () => clearInterval(t);
	}, [on, seen]);
	if (!on)
		return <span class="thumb none" ref={ref}>–</span>;
	return (
		<span class="thumb" ref={ref}>
			{seen && !broken && <img src={`${shot}?t=${tick}`}
			    alt={`Screen of ${vm.name}`} width="96" height="54" data-thumb={vm.name}
			    onError={() => setBroken(true)} onLoad={() => setBroken(false)} />}
		</span>
	);
}

// The graphical console: a noVNC canvas in the VM's details.
export function VncView({ vm, self, onClose }) {
	const box = useRef(null);
	const [status, setStatus] = useState('connecting');
	useEffect(() => {
		const url = `wss://${location.host}${hostPath(vm.host, self, `/v1/vms/${enc(vm.name)}/vnc`)}`;
		let rfb;
		try {
			rfb = new RFB(box.current, url, { wsProtocols: ['binary'] });
		} catch (e) {
			setStatus(`cannot connect: ${e.message}`);
			return undefined;
		}
		rfb.scaleViewport = true;
		rfb.resizeSession = false;
		rfb.addEventListener('connect', () => setStatus('connected'));
		rfb.addEventListener('disconnect', (e) =>
		    setStatus(e.detail && e.detail.clean ? 'disconnected' : 'connection lost'));
		return () => rfb.disconnect();
	}, [vm.name, vm.host]);
	return (
		<section class="vnc" aria-label={`Screen of ${vm.name}`}>
			<p class="small">Screen: <span role="status" data-vnc-status>{status}</span>
				{' '}<button type="button" onClick={onClose}>Close screen</button></p>
			<div class="vnc-screen" ref={box} />
		</section>
	);
}

export const screenLive = live;
