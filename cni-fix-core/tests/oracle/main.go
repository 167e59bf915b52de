// cni-fix-oracle prints what libcni and go-cni themselves make of network configs, for the
// differential tests. It is built offline against Debian's packaged source
// (golang-github-appc-cni-dev, golang-github-containerd-go-cni-dev) in GOPATH mode.
//
//	cni-fix-oracle files DIR             one JSON line per config file, in libcni's order
//	cni-fix-oracle load DIR MAX          go-cni's load of DIR with max_conf_num MAX
//	cni-fix-oracle validate FILE BINDIR  libcni's ValidateNetworkList against the plugins
//	cni-fix-oracle shimload DIR BINDIR   the network cri-dockerd (and dockershim) would use
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
)

type fileVerdict struct {
	File       string   `json:"file"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Name       string   `json:"name"`
	CNIVersion string   `json:"cniVersion"`
	Types      []string `json:"types"`
}

// readList reads a file as go-cni does: .conflist as a list, .conf/.json as one plugin.
func readList(path string) (*libcni.NetworkConfigList, error) {
	if strings.HasSuffix(path, ".conflist") {
		return libcni.ConfListFromFile(path)
	}
	conf, err := libcni.ConfFromFile(path)
	if err != nil {
		return nil, err
	}
	if conf.Network.Type == "" {
		return nil, fmt.Errorf("network type not found in %s", path)
	}
	return libcni.ConfListFromConf(conf)
}

func types(list *libcni.NetworkConfigList) []string {
	out := []string{}
	for _, p := range list.Plugins {
		out = append(out, p.Network.Type)
	}
	return out
}

func files(dir string) error {
	found, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return err
	}
	sort.Strings(found)
	enc := json.NewEncoder(os.Stdout)
	for _, f := range found {
		v := fileVerdict{File: filepath.Base(f), Types: []string{}}
		list, err := readList(f)
		if err != nil {
			v.Error = err.Error()
		} else {
			v.OK = true
			v.Name = list.Name
			v.CNIVersion = list.CNIVersion
			v.Types = types(list)
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

type network struct {
	Name       string   `json:"name"`
	CNIVersion string   `json:"cniVersion"`
	Types      []string `json:"types"`
}

func load(dir string, max int) error {
	l, err := gocni.New(
		gocni.WithPluginConfDir(dir),
		gocni.WithPluginMaxConfNum(max),
		gocni.WithPluginDir([]string{"/nonexistent"}),
	)
	if err != nil {
		return err
	}
	out := struct {
		Error    *string   `json:"error"`
		Networks []network `json:"networks"`
	}{Networks: []network{}}
	if err := l.Load(gocni.WithDefaultConf); err != nil {
		msg := err.Error()
		out.Error = &msg
	}
	for _, n := range l.GetConfig().Networks {
		net := network{Name: n.Config.Name, CNIVersion: n.Config.CNIVersion, Types: []string{}}
		for _, p := range n.Config.Plugins {
			net.Types = append(net.Types, p.Network.Type)
		}
		out.Networks = append(out.Networks, net)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func validate(file, bindir string) error {
	list, err := readList(file)
	if err != nil {
		return err
	}
	cfg := libcni.NewCNIConfig([]string{bindir}, nil)
	if _, err := cfg.ValidateNetworkList(context.Background(), list); err != nil {
		return err
	}
	fmt.Println("valid")
	return nil
}

// shimload follows getDefaultCNINetwork of Mirantis/cri-dockerd v0.3.1
// (network/cni/cni.go), the loader dockershim had, over Debian's libcni 1.1.2, the libcni
// cri-dockerd v0.3.1 to v0.4.3 vendor.
func shimload(dir, bindir string) error {
	out := struct {
		Error *string `json:"error"`
		File  *string `json:"file"`
	}{}
	fail := func(err error) error {
		msg := err.Error()
		out.Error = &msg
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	switch {
	case err != nil:
		return fail(err)
	case len(files) == 0:
		return fail(fmt.Errorf("no networks found in %s", dir))
	}
	cniConfig := &libcni.CNIConfig{Path: []string{bindir}}
	sort.Strings(files)
	for _, confFile := range files {
		var confList *libcni.NetworkConfigList
		if strings.HasSuffix(confFile, ".conflist") {
			confList, err = libcni.ConfListFromFile(confFile)
			if err != nil {
				continue
			}
		} else {
			conf, err := libcni.ConfFromFile(confFile)
			if err != nil {
				continue
			}
			if conf.Network.Type == "" {
				continue
			}
			confList, err = libcni.ConfListFromConf(conf)
			if err != nil {
				continue
			}
		}
		if len(confList.Plugins) == 0 {
			continue
		}
		if _, err := cniConfig.ValidateNetworkList(context.TODO(), confList); err != nil {
			continue
		}
		name := filepath.Base(confFile)
		out.File = &name
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	return fail(fmt.Errorf("no valid networks found in %s", dir))
}

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "files":
		err = files(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "load":
		var max int
		if max, err = strconv.Atoi(os.Args[3]); err == nil {
			err = load(os.Args[2], max)
		}
	case len(os.Args) == 4 && os.Args[1] == "validate":
		err = validate(os.Args[2], os.Args[3])
	case len(os.Args) == 4 && os.Args[1] == "shimload":
		err = shimload(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("usage: cni-fix-oracle files DIR | load DIR MAX | validate FILE BINDIR | shimload DIR BINDIR")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
