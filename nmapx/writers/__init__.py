"""Writers: Nmap XML (byte-faithful splicing), Nmap normal output, and reports."""
