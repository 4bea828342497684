// Types for Vite's `?raw` imports: a file's text as a string (tests read the docs they check this way).
declare module '*?raw' {
  const text: string;
  export default text;
}
