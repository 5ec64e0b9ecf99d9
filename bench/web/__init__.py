"""The lab's generated web pages: offline.py points their CDN assets at the copies in vendor/."""
