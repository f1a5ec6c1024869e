import { Card, CardContent, Table, TableBody, TableCell, TableHead, TableRow, Typography } from '@mui/material';
import type { DropRow } from '../../api/types';
import { relativeTime } from '../../format';

/** Drops and refusals per sender, so a silent or misconfigured sender gets noticed. */
export function DropsTable({ rows }: { rows: DropRow[] }) {
  return (
    <Card>
      <CardContent>
        <Typography variant="h6" component="h2" gutterBottom>
          Drops and refusals per source
        </Typography>
        {rows.length === 0 ? (
          <Typography color="text.secondary">No drops or refusals in this range</Typography>
        ) : (
          <Table size="small" aria-label="Drops and refusals per source">
            <TableHead>
              <TableRow>
                <TableCell>Tenant</TableCell>
                <TableCell>Source</TableCell>
                <TableCell>Reason</TableCell>
                <TableCell align="right">Count</TableCell>
                <TableCell>Last</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {rows.map((r) => (
                <TableRow key={`${r.tenant}/${r.source}/${r.reason}`}>
                  <TableCell>{r.tenant}</TableCell>
                  <TableCell>{r.source}</TableCell>
                  <TableCell>{r.reason}</TableCell>
                  <TableCell align="right">{r.count}</TableCell>
                  <TableCell>{relativeTime(r.last_at)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}
