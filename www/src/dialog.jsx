// dialog.jsx - the confirmation every action goes through: a modal
// <dialog> (focus kept inside, Escape cancels), the one field an action
// may need, the server's error shown in place.
import { useEffect, useRef, useState } from 'preact/hooks';

export function ConfirmDialog({ title, text, field, confirmLabel, danger, onConfirm, onClose }) {
	const ref = useRef(null);
	const [value, setValue] = useState(field && field.initial ? field.initial : '');
	const [error, setError] = useState('');
	const [busy, setBusy] = useState(false);
	useEffect(() => {
		const d = ref.current;
		const opener = document.activeElement;
		if (d && !d.open) d.showModal();
		// Back to the button that opened it (the dialog leaves the DOM).
		return () => {
			if (d && d.open) d.close(); // a modal dialog makes the rest inert
			if (opener && opener.isConnected) opener.focus();
		};
	}, []);
	const submit = async (e) => {
		e.preventDefault();
		if (field && !field.optional && !value.trim()) {
			setError(`${field.label}: required`);
			return;
		}
		setBusy(true);
		setError('');
		try {
			await onConfirm(value.trim());
			onClose();
		} catch (err) {
			setError(err.message);
		} finally { setBusy(false); }
	};
	return (
		<dialog ref={ref} class="confirm" aria-labelledby="dlg-title" aria-describedby="dlg-text"
		    onCancel={(e) => { e.preventDefault(); onClose(); }}>
			<form method="dialog" onSubmit={submit}>
				<h2 id="dlg-title">{title}</h2>
				<p id="dlg-text">{text}</p>
				{field && <Field field={field} value={value} setValue={setValue} />}
				<div class="error" role="alert">{error}</div>
				<div class="buttons">
					<button type="button" onClick={onClose}>Cancel</button>
					<button type="submit" class={danger ? 'danger' : 'primary'} disabled={busy}>{confirmLabel}</button>
				</div>
			</form>
		</dialog>
	);
}

function Field({ field, value, setValue }) {
	const opts = field.options || [];
	if (field.kind === 'select')
		return (<>
			<label for="dlg-field">{field.label}</label>
			<select id="dlg-field" value={value} onChange={(e) => setValue(e.currentTarget.value)} required>
				<option value="">Choose…</option>
				{opts.map((o) => <option key={o} value={o}>{o}</option>)}
			</select>
		</>);
	return (<>
		<label for="dlg-field">{field.label}</label>
		<input id="dlg-field" value={value} placeholder={field.placeholder || ''} list={opts.length ? 'dlg-opts' : undefined}
		    onInput={(e) => setValue(e.currentTarget.value)} />
		{opts.length > 0 && <datalist id="dlg-opts">{opts.map((o) => <option key={o} value={o} />)}</datalist>}
	</>);
}
