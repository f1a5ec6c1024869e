import { Link, Paper, Table, TableBody, TableCell, TableContainer, TableHead, TableRow, Typography } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import type { Incident } from '../../api/types';
import { SeverityChip } from '../../components/SeverityChip';
import { StatusChip } from '../../components/StatusChip';
import { SlaCountdown } from '../../components/SlaCountdown';
import { relativeTime } from '../../format';

/** Incidents as a sortable-by-eye table: newest first. */
export function IncidentTable({ incidents, showTenant }: { incidents: Incident[]; showTenant: boolean }) {
  if (!incidents.length) return <Typography color="text.secondary">No incidents</Typography>;
  return (
    <TableContainer component={Paper} variant="outlined">
      <Table size="small" aria-label="Incidents">
        <TableHead>
          <TableRow>
            <TableCell>Severity</TableCell>
            <TableCell>Title</TableCell>
            {showTenant && <TableCell>Tenant</TableCell>}
            <TableCell>State</TableCell>
            <TableCell>Assignee</TableCell>
            <TableCell>SLA</TableCell>
            <TableCell>Opened</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {incidents.map((i) => (
            <TableRow key={i.id} hover data-testid="incident-row">
              <TableCell>
                <SeverityChip severity={i.severity} />
              </TableCell>
              <TableCell>
                <Link component={RouterLink} to={`/incidents/${i.id}`}>
                  {i.title}
                </Link>
              </TableCell>
              {showTenant && <TableCell>{i.tenant}</TableCell>}
              <TableCell>
                <StatusChip status={i.status} />
              </TableCell>
              <TableCell>{i.assignee ?? 'Unassigned'}</TableCell>
              <TableCell>
                {i.status !== 'resolved' && i.status !== 'closed' && (
                  <SlaCountdown sla={i.sla} clock={i.status === 'new' ? 'acknowledge' : 'resolve'} />
                )}
              </TableCell>
              <TableCell>{relativeTime(i.created_at)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}
