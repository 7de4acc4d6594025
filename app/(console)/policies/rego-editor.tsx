'use client';

/**
 * Monaco from the npm package (never a CDN): `loader.config({ monaco })` hands @monaco-editor/react the
 * bundled editor. This module is loaded lazily (next/dynamic) so Monaco stays out of the page's initial JS.
 * Only the editor core and the contributions the Rego editor needs are imported (not every language).
 */
import Editor, { loader } from '@monaco-editor/react';
import * as monaco from 'monaco-editor/editor/editor.api';
import 'monaco-editor/editor/contrib/hover/browser/hoverContribution';
import 'monaco-editor/editor/contrib/find/browser/findController';
import 'monaco-editor/editor/contrib/gotoError/browser/gotoError';
import 'monaco-editor/editor/contrib/comment/browser/comment';
import 'monaco-editor/editor/contrib/bracketMatching/browser/bracketMatching';
import 'monaco-editor/editor/contrib/folding/browser/folding';
import 'monaco-editor/editor/contrib/wordHighlighter/browser/wordHighlighter';
import { useEffect, useRef, useSyncExternalStore } from 'react';
import { registerRego, REGO_LANGUAGE_ID } from './rego-language';

declare global {
  interface Window {
    MonacoEnvironment?: { getWorker?: (id: string, label: string) => Worker };
  }
}

if (typeof window !== 'undefined' && !window.MonacoEnvironment) {
  window.MonacoEnvironment = {
    getWorker: () => new Worker(new URL('monaco-editor/editor/editor.worker', import.meta.url), { type: 'module' }),
  };
}
loader.config({ monaco });
registerRego(monaco);

export interface RegoMarker {
  row: number;
  col: number;
  message: string;
  code: string;
}

const darkQuery = () => (typeof window === 'undefined' ? null : window.matchMedia('(prefers-color-scheme: dark)'));
function useDark(): boolean {
  return useSyncExternalStore(
    (cb) => {
      const q = darkQuery();
      q?.addEventListener('change', cb);
      return () => q?.removeEventListener('change', cb);
    },
    () => !!darkQuery()?.matches,
    () => false,
  );
}

export default function RegoEditor({
  path,
  value,
  onChange,
  markers,
  readOnly,
  label,
}: {
  path: string;
  value: string;
  onChange: (v: string) => void;
  markers: RegoMarker[];
  readOnly: boolean;
  label: string;
}) {
  const editorRef = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  const dark = useDark();

  useEffect(() => {
    const model = editorRef.current?.getModel();
    if (!model) return;
    monaco.editor.setModelMarkers(
      model,
      'opa',
      markers.map((m) => {
        const line = Math.min(Math.max(1, m.row), model.getLineCount());
        const col = Math.max(1, m.col);
        return {
          severity: monaco.MarkerSeverity.Error,
          message: `${m.message} (${m.code})`,
          startLineNumber: line,
          startColumn: col,
          endLineNumber: line,
          endColumn: Math.max(col + 1, model.getLineMaxColumn(line)),
        };
      }),
    );
  }, [markers, path, value]);

  return (
    <Editor
      height="100%"
      path={path}
      language={REGO_LANGUAGE_ID}
      value={value}
      theme={dark ? 'vs-dark' : 'vs'}
      onChange={(v) => onChange(v ?? '')}
      onMount={(editor) => {
        editorRef.current = editor;
        editor.getDomNode()?.setAttribute('data-rego-editor', path);
      }}
      options={{
        readOnly,
        minimap: { enabled: false },
        fontSize: 13,
        tabSize: 4,
        insertSpaces: false,
        scrollBeyondLastLine: false,
        automaticLayout: true,
        ariaLabel: label,
        renderValidationDecorations: 'on',
        fixedOverflowWidgets: true,
      }}
      loading={<p className="muted">Loading the editor…</p>}
    />
  );
}
