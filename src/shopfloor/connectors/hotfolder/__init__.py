"""Camera images dropped into a folder (FTP/SMB share): settled, decoded, stored once."""
