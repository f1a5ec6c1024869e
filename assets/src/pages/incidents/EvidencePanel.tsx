import { useRef, useState } from 'react';
import { Box, Button, LinearProgress, Link, Stack, TextField, Typography } from '@mui/material';
import UploadFile from '@mui/icons-material/UploadFile';
import { api } from '../../api/client';
import type { Evidence } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { absoluteTime, formatBytes } from '../../format';
import { CustodyChainView } from './CustodyChainView';

interface Props {
  incidentId: string;
  evidence: Evidence[];
  writable: boolean;
  onUploaded: () => void;
}

/** Files attached as evidence, each with the SHA-256 the server computed on receipt. */
export function EvidencePanel({ incidentId, evidence, writable, onUploaded }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [last, setLast] = useState<{ filename: string; sha256: string } | null>(null);

  const upload = async (file: File) => {
    setBusy(true);
    setError(null);
    try {
      const res = await api.uploadEvidence(incidentId, file, reason || undefined);
      setLast({ filename: res.filename ?? file.name, sha256: res.sha256 });
      setReason('');
      onUploaded();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      if (input.current) input.current.value = '';
    }
  };

  const download = async (e: Evidence) => {
    try {
      const res = await api.downloadEvidence(incidentId, e.id);
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = e.filename;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Stack gap={1}>
      <ErrorNotice error={error} />
      {last && (
        <Typography variant="body2" role="status" data-testid="evidence-uploaded">
          Uploaded {last.filename} — SHA-256 <code>{last.sha256}</code>
        </Typography>
      )}
      {evidence.length === 0 ? (
        <Typography color="text.secondary">No evidence</Typography>
      ) : (
        <Box component="ul" sx={{ listStyle: 'none', m: 0, p: 0 }} aria-label="Evidence">
          {evidence.map((e) => (
            <Box component="li" key={e.id} data-testid="evidence-row" sx={{ py: 1, borderBottom: 1, borderColor: 'divider' }}>
              <Stack direction="row" gap={1} alignItems="baseline" flexWrap="wrap">
                <Link component="button" onClick={() => void download(e)} aria-label={`Download ${e.filename}`}>
                  {e.filename}
                </Link>
                <Typography variant="body2" color="text.secondary">
                  {formatBytes(e.size)} · {e.uploaded_by ?? ''} · {absoluteTime(e.uploaded_at)}
                </Typography>
              </Stack>
              <Typography variant="body2" sx={{ fontFamily: 'monospace', fontSize: 12, wordBreak: 'break-all' }}>
                SHA-256 <span data-testid="evidence-sha256">{e.sha256}</span>
              </Typography>
            </Box>
          ))}
        </Box>
      )}
      {writable && (
        <Stack direction="row" gap={1} alignItems="center" flexWrap="wrap">
          <TextField size="small" label="Reason (optional)" value={reason} onChange={(e) => setReason(e.target.value)} sx={{ flex: 1, minWidth: 160 }} />
          <Button variant="outlined" component="label" startIcon={<UploadFile />} disabled={busy}>
            Upload evidence
            <input
              ref={input}
              type="file"
              hidden
              data-testid="evidence-input"
              aria-label="Evidence file"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) void upload(f);
              }}
            />
          </Button>
        </Stack>
      )}
      {busy && <LinearProgress aria-label="Uploading evidence" />}
      {evidence.length > 0 && <CustodyChainView key={evidence.length} incidentId={incidentId} />}
    </Stack>
  );
}
