/** Vite bundles imported stylesheets; they have no exports. */
declare module '*.css';
