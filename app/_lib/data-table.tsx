import type { ReactNode } from 'react';

/**
 * The console's tables: a scrolling wrapper, a header row of column names (`false`/`null` leave a column
 * out, e.g. an Actions column for roles that may act), and the rows the caller renders.
 */
export function DataTable({ columns, caption, className, children }: { columns: readonly (ReactNode | false | null | undefined)[]; caption?: ReactNode; className?: string; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table className={className}>
        {caption}
        <thead>
          <tr>
            {columns.map((c, i) =>
              c === false || c === null || c === undefined ? null : (
                <th key={i} scope="col">
                  {c}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
