// actions.js - what a VM can be asked to do from the console: when the
// action makes sense, the route, and the body the API takes (the same as
// the CLI sends; docs/api.md).

const UP = ['running', 'paused'];

export const ACTIONS = [
	{ id: 'start', label: 'Start', states: ['off', 'crashed', 'saved'], path: 'start' },
	{ id: 'shutdown', label: 'Shut down', states: ['running'], path: 'shutdown',
	    text: 'The guest is asked to shut down (ACPI); it gets 120 s.', body: () => ({ timeout_s: 120 }) },
	{ id: 'stop', label: 'Stop (force)', states: ['running', 'paused', 'starting', 'stopping'], path: 'stop',
	    danger: true, text: 'The VM is turned off at once, like pulling the plug: unsaved guest data is lost.' },
	{ id: 'pause', label: 'Pause', states: ['running'], path: 'pause' },
	{ id: 'resume', label: 'Resume', states: ['paused'], path: 'resume' },
	{ id: 'move', label: 'Move…', states: ['running', 'off', 'crashed', 'saved'], path: 'move',
	    field: { label: 'Destination host', kind: 'select', from: 'hosts' }, body: (v) => ({ to: v }),
	    text: 'The VM moves to another host (live when it runs).' },
	{ id: 'move-storage', label: 'Move storage…', states: ['running', 'paused', 'off', 'crashed', 'saved'],
	    path: 'move-storage', field: { label: 'Target pool', kind: 'select', from: 'pools' },
	    body: (v) => ({ to: v }), text: 'Every disk moves into the pool chosen (live when it runs).' },
	{ id: 'checkpoint', label: 'Checkpoint…', states: ['running', 'paused', 'off'], path: 'checkpoints',
	    field: { label: 'Checkpoint name (optional)', optional: true },
	    body: (v) => (v ? { name: v } : {}), text: 'A checkpoint of the VM is taken.' },
	{ id: 'backup', label: 'Backup…', states: UP, path: 'backup',
	    field: { label: 'Repository directory on the VM\'s host', placeholder: '/srv/backups' },
	    body: (v) => ({ repo: v }), text: 'A backup point of the VM\'s disks is written into the repository.' },
	{ id: 'failover', label: 'Fail over', states: ['replica'], path: 'failover', danger: true,
	    body: () => ({}), text: 'The replica starts from its latest recovery point on this host.' },
];

export function actionsFor(vm) {
	return ACTIONS.filter((a) => a.states.includes(vm.state));
}
