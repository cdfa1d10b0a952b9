// login.jsx - PAM login: the host's accounts; the server answers the same
// sentence for every wrong part, and that sentence is what we show.
import { useState } from 'preact/hooks';
import { api } from './api.js';

export function Login({ onLogin }) {
	const [user, setUser] = useState('');
	const [password, setPassword] = useState('');
	const [error, setError] = useState('');
	const [busy, setBusy] = useState(false);
	const submit = async (e) => {
		e.preventDefault();
		setBusy(true);
		setError('');
		try {
			onLogin(await api('POST', '/v1/session', { user, password }));
		} catch (err) {
			setError(err.message);
			setPassword('');
		} finally { setBusy(false); }
	};
	return (
		<main id="main" class="login">
			<form class="card" onSubmit={submit} aria-labelledby="login-title">
				<h1 id="login-title">tern console</h1>
				<p class="hint">Log in with your account on this host (a member of tern-admin or tern-viewer).</p>
				<label for="user">User name</label>
				<input id="user" name="user" autocomplete="username" required value={user}
				    onInput={(e) => setUser(e.currentTarget.value)} />
				<label for="password">Password</label>
				<input id="password" name="password" type="password" autocomplete="current-password"
				    required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
				<div class="error" role="alert">{error}</div>
				<button type="submit" class="primary" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
			</form>
		</main>
	);
}
