// api.js - the console's calls to ternd: JSON in and out, the session's
// CSRF token on every state change, errors as exceptions that carry the
// server's code and sentence.

let csrf = '';
let onLoggedOut = () => {};

export function setCsrf(token) { csrf = token || ''; }
export function setLoggedOutHandler(fn) { onLoggedOut = fn; }

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

export async function api(method, path, body) {
	const headers = { Accept: 'application/json' };
	const init = { method, headers, credentials: 'same-origin' };
	if (method !== 'GET' && method !== 'HEAD')
		headers['X-CSRF-Token'] = csrf;
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, 'network', 'ternd cannot be reached: ' + e.message);
	}
	const text = await res.text();
	let data = null;
	if (text) {
		try { data = JSON.parse(text); } catch { data = null; }
	}
	if (!res.ok) {
		const e = data && data.error ? data.error : {};
		if (res.status === 401 && e.code === 'session' && path !== '/v1/session')
			onLoggedOut();
		throw new ApiError(res.status, e.code || 'http',
		    e.message || `${method} ${path}: HTTP ${res.status}`);
	}
	return data;
}

// hostPath: PATH (starting /v1/) on HOST; another host's through this
// host's forwarding route.
export function hostPath(host, selfName, path) {
	if (!host || host === selfName)
		return path;
	return `/v1/hosts/${encodeURIComponent(host)}${path}`;
}

export const enc = encodeURIComponent;
