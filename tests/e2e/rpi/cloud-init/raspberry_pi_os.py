# e2e stand-in for cloud-init's Raspberry Pi OS distro
# (cloudinit/distros/raspberry_pi_os.py, cloud-init 25.2; written for this
# test, not copied), for Debian's cloud-init, which lacks it. What matters to
# piprep: a user that cloud-init creates goes through `rename-user -f -s`
# (which re-enables the console wizard), and no fallback network
# configuration is generated. Keyboard and locale handling (raspi-config) is
# not reproduced.
import logging

from cloudinit import subp
from cloudinit.distros import debian

LOG = logging.getLogger(__name__)


class Distro(debian.Distro):
    def add_user(self, name, **kwargs) -> bool:
        created = super().add_user(name, **kwargs)
        if created:
            LOG.info("rpi stand-in: rename-user for new user %s", name)
            subp.subp(["/usr/bin/rename-user", "-f", "-s"], update_env={"SUDO_USER": name})
        return created

    def generate_fallback_config(self):
        LOG.info("rpi stand-in: no fallback network configuration")
        return None
