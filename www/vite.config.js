// The console is served by ternd from its www-dir: no inline scripts (the
// CSP is default-src 'self'), hashed assets under /assets/.
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

export default defineConfig({
	plugins: [preact()],
	base: '/',
	build: {
		outDir: '../build/www',
		emptyOutDir: true,
		assetsInlineLimit: 0,
		modulePreload: { polyfill: false },
		// es2022: noVNC (core/util/browser.js) uses a top-level await
		target: 'es2022',
	},
});
