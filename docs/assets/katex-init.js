// Render the formulas pymdownx.arithmatex left as \( … \) and \[ … \] with the bundled KaTeX.
// document$ is Material's page observable (it fires on every page load).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
