'use client';

import dynamic from 'next/dynamic';
import type { ComponentProps } from 'react';
import type { GraphEditor } from './graph-editor';

/** The editor runs in the browser only (React Flow measures the DOM); its code is a separate chunk. */
const Editor = dynamic(() => import('./graph-editor').then((m) => m.GraphEditor), {
  ssr: false,
  loading: () => (
    <p className="muted" role="status">
      Loading the graph editor…
    </p>
  ),
});

export function GraphEditorLoader(props: ComponentProps<typeof GraphEditor>) {
  return <Editor {...props} />;
}
