import { useEffect, useId, useState } from "react";
import { checkSchema, parseJson, type SchemaIssue } from "./check";

interface Props {
  label: string;
  text: string;
  onText: (text: string) => void;
  /** Reports whether the text is a valid schema (true while it is empty and `optional`). */
  onValid: (valid: boolean) => void;
  objectOnly?: boolean;
  optional?: boolean;
  tryIt?: boolean;
}

/** A JSON Schema in a monospace textarea: parse errors with line/column, meta-schema errors with their paths,
 * and (tryIt) a sample input checked against it. */
export function SchemaEditor({ label, text, onText, onValid, objectOnly = false, optional = false, tryIt = false }: Props) {
  const id = useId();
  const [issues, setIssues] = useState<SchemaIssue[]>([]);
  const [syntax, setSyntax] = useState<string | null>(null);
  const [sampleText, setSampleText] = useState("{}");
  const [sampleIssues, setSampleIssues] = useState<SchemaIssue[] | null>(null);
  const [sampleSyntax, setSampleSyntax] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    const timer = window.setTimeout(() => {
      if (optional && !text.trim()) {
        setSyntax(null);
        setIssues([]);
        setSampleIssues(null);
        return onValid(true);
      }
      const parsed = parseJson(text);
      if (!parsed.ok) {
        setSyntax(`Line ${parsed.line}, column ${parsed.column}: ${parsed.message}`);
        setIssues([]);
        return onValid(false);
      }
      setSyntax(null);
      const sample = tryIt ? parseJson(sampleText) : null;
      setSampleSyntax(sample && !sample.ok ? `Line ${sample.line}, column ${sample.column}: ${sample.message}` : null);
      void checkSchema(parsed.value, sample?.ok ? sample.value : undefined, objectOnly).then((answer) => {
        if (!current) return;
        setIssues(answer.schemaIssues);
        setSampleIssues(answer.sampleIssues);
        onValid(answer.schemaIssues.length === 0);
      });
    }, 200);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [text, sampleText, objectOnly, optional, tryIt, onValid]);

  const status = syntax ? "syntax" : issues.length ? "invalid" : "ok";
  return (
    <div className="schema-editor">
      <label htmlFor={`${id}-schema`}>{label}</label>
      <textarea
        id={`${id}-schema`}
        className="code"
        spellCheck={false}
        rows={10}
        value={text}
        aria-invalid={status !== "ok"}
        aria-describedby={`${id}-feedback`}
        onChange={(e) => onText(e.target.value)}
      />
      <div id={`${id}-feedback`} className="feedback" aria-live="polite">
        {syntax && <p className="error">JSON error: {syntax}</p>}
        {issues.length > 0 && (
          <ul className="error issues" aria-label={`${label} problems`}>
            {issues.map((issue, index) => (
              <li key={index}>
                <code>{issue.path}</code> {issue.message}
              </li>
            ))}
          </ul>
        )}
        {status === "ok" && !(optional && !text.trim()) && <p className="ok">Valid JSON Schema (draft 2020-12)</p>}
      </div>
      {tryIt && (
        <details className="try-it">
          <summary>Try it: a sample input</summary>
          <label htmlFor={`${id}-sample`}>Sample input (JSON)</label>
          <textarea id={`${id}-sample`} className="code" spellCheck={false} rows={4} value={sampleText} onChange={(e) => setSampleText(e.target.value)} />
          <div aria-live="polite" className="feedback">
            {sampleSyntax && <p className="error">JSON error: {sampleSyntax}</p>}
            {!sampleSyntax && sampleIssues?.length === 0 && <p className="ok">The sample matches the schema</p>}
            {!sampleSyntax && sampleIssues && sampleIssues.length > 0 && (
              <ul className="error issues" aria-label="Sample problems">
                {sampleIssues.map((issue, index) => (
                  <li key={index}>
                    <code>{issue.path}</code> {issue.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        </details>
      )}
    </div>
  );
}
