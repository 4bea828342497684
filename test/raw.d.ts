// Types for Vite's `?raw` imports: a file's text as a string (tests read the docs they check this way).
declare module '*?raw' {
  const text: string;
  export default text;
}

// Vite's import.meta.glob (the house-rule tests read src/ through it); only the eager form is used.
interface ImportMeta {
  glob<T = unknown>(pattern: string, options: { query?: string; import?: string; eager: true }): Record<string, T>;
}
